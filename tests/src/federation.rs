//! A federation of real liaison nodes on 127.0.0.1, made by `liaison_node::federation::create` in
//! a temporary directory: start it, stop, restart or kill single nodes on the same ports and data,
//! and reach each node's admin interface as its operator. Nodes tell time by the system clock, or
//! all by one shared [`ManualClock`] that the test moves.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use ed25519_dalek::VerifyingKey;
use liaison_core::{CountyCode, NodeKey, NoticeKind};
use liaison_node::clock::{Clock, ManualClock, SystemClock};
use liaison_node::config::Config;
use liaison_node::federation::{self, Member};
use liaison_node::{Node, NodeError, pki};
use liaison_proto::v1 as pb;
use liaison_proto::v1::exchange_client::ExchangeClient;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

use crate::poll::{eventually, within};
use crate::{binary, peer};

/// The date from which every agreement of a test federation is in force.
pub const AGREEMENT_EFFECTIVE: &str = "2026-01-01";

/// Parses a county code that a test spells out.
///
/// # Panics
/// If `text` is not a county code.
pub fn code(text: &str) -> CountyCode {
    CountyCode::parse(text).unwrap_or_else(|e| panic!("{e}"))
}

/// Adds `authorization: Bearer <token>` to every admin call (nothing when there is no token).
#[derive(Clone)]
pub struct BearerToken(Option<MetadataValue<Ascii>>);

impl tonic::service::Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A client of a node's admin interface.
pub type AdminClient = pb::admin_client::AdminClient<InterceptedService<Channel, BearerToken>>;

/// Connects to the admin interface at `addr`, sending `token` (if any) with every call.
///
/// Calls time out after 20 seconds, so a hung node fails a test instead of stalling it.
pub async fn connect_admin(
    addr: SocketAddr,
    token: Option<&str>,
) -> Result<AdminClient, tonic::transport::Error> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(crate::poll::DEADLINE)
        .connect()
        .await?;
    let token = token.map(|t| {
        format!("Bearer {t}")
            .parse()
            .expect("an admin token is printable ASCII")
    });
    Ok(pb::admin_client::AdminClient::with_interceptor(
        channel,
        BearerToken(token),
    ))
}

/// One line about a notice for failure messages: id, status, attempts, last error, rejection.
pub fn summary(info: &pb::NoticeInfo) -> String {
    format!(
        "{:?} {:?} {} → status {:?}, attempts {}, last_error {:?}, reject {:?} {:?}",
        info.direction(),
        info.kind(),
        info.notice_id,
        info.status(),
        info.attempts,
        info.last_error,
        info.reject_code(),
        info.reject_reason
    )
}

/// A county's operator at the admin interface of its node. Failed calls fail the test, except
/// through the `try_` methods and [`Operator::client`].
#[derive(Clone)]
pub struct Operator {
    county: CountyCode,
    client: AdminClient,
}

impl Operator {
    /// The county whose node this operator works.
    pub fn county(&self) -> CountyCode {
        self.county
    }

    /// The admin client itself, for calls whose refusal the test expects.
    pub fn client(&mut self) -> &mut AdminClient {
        &mut self.client
    }

    /// Sends `draft_json`, as a reply to `in_reply_to` unless it is empty.
    pub async fn try_send(
        &mut self,
        draft_json: &str,
        in_reply_to: &str,
    ) -> Result<pb::NoticeInfo, Status> {
        self.client
            .send(pb::SendRequest {
                draft_json: draft_json.to_owned(),
                in_reply_to: in_reply_to.to_owned(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Sends a new notice; returns it as queued in the outbox.
    pub async fn send(&mut self, draft_json: &str) -> pb::NoticeInfo {
        self.try_send(draft_json, "")
            .await
            .unwrap_or_else(|s| panic!("{} refused to send {draft_json}: {s:?}", self.county))
    }

    /// Sends `draft_json` as the answer to inbox notice `original`.
    pub async fn reply(&mut self, original: &str, draft_json: &str) -> pb::NoticeInfo {
        self.try_send(draft_json, original)
            .await
            .unwrap_or_else(|s| panic!("{} refused to reply to {original}: {s:?}", self.county))
    }

    /// Everything the node shows about notice `id`, outbound or inbound.
    pub async fn show(&mut self, id: &str) -> pb::NoticeDetail {
        self.client
            .show(pb::NoticeRef {
                notice_id: id.to_owned(),
            })
            .await
            .unwrap_or_else(|s| panic!("{} cannot show {id}: {s:?}", self.county))
            .into_inner()
    }

    /// The listing entry of notice `id`.
    pub async fn info(&mut self, id: &str) -> pb::NoticeInfo {
        self.show(id).await.info.expect("Show answers with info")
    }

    async fn list(&mut self, inbox: bool) -> Vec<pb::NoticeInfo> {
        let request = pb::ListRequest {
            status: 0,
            peer: String::new(),
            limit: liaison_node::MAX_LIST_LIMIT as u32,
        };
        let result = if inbox {
            self.client.list_inbox(request).await
        } else {
            self.client.list_outbox(request).await
        };
        result
            .unwrap_or_else(|s| panic!("{} cannot list: {s:?}", self.county))
            .into_inner()
            .notices
    }

    /// Every notice in the inbox, newest first.
    pub async fn inbox(&mut self) -> Vec<pb::NoticeInfo> {
        self.list(true).await
    }

    /// Every notice in the outbox, newest first.
    pub async fn outbox(&mut self) -> Vec<pb::NoticeInfo> {
        self.list(false).await
    }

    /// Asks for outbound notice `id` to be delivered again now.
    pub async fn retry(&mut self, id: &str) -> pb::NoticeInfo {
        self.client
            .retry(pb::NoticeRef {
                notice_id: id.to_owned(),
            })
            .await
            .unwrap_or_else(|s| panic!("{} cannot retry {id}: {s:?}", self.county))
            .into_inner()
    }

    /// Cuts the back-off of outbound notice `id` short, unless it is no longer pending (a delivery
    /// may have beaten the request to it).
    pub async fn retry_if_pending(&mut self, id: &str) {
        let result = self
            .client
            .retry(pb::NoticeRef {
                notice_id: id.to_owned(),
            })
            .await;
        match result {
            Ok(_) => {}
            Err(s) if s.code() == tonic::Code::FailedPrecondition => {}
            Err(s) => panic!("{} cannot retry {id}: {s:?}", self.county),
        }
    }

    /// Polls notice `id` until `holds` is true of it (described by `what`), and returns it.
    pub async fn wait_until(
        &self,
        id: &str,
        what: &str,
        holds: impl Fn(&pb::NoticeInfo) -> bool,
    ) -> pb::NoticeInfo {
        let holds = &holds;
        let client = self.client.clone();
        eventually(
            &format!("notice {id} at {} to be {what}", self.county),
            || {
                let mut client = client.clone();
                let notice_id = id.to_owned();
                async move {
                    let detail = client
                        .show(pb::NoticeRef { notice_id })
                        .await
                        .map_err(|s| format!("Show failed: {s:?}"))?
                        .into_inner();
                    let info = detail.info.unwrap_or_default();
                    if holds(&info) {
                        Ok(info)
                    } else {
                        Err(summary(&info))
                    }
                }
            },
        )
        .await
    }

    /// Polls outbound notice `id` until its status is `status`.
    pub async fn wait_for_status(&self, id: &str, status: pb::NoticeStatus) -> pb::NoticeInfo {
        self.wait_until(id, status.as_str_name(), |info| info.status() == status)
            .await
    }

    /// Polls the inbox until `holds` is true of it (described by `what`), and returns it.
    pub async fn wait_for_inbox(
        &self,
        what: &str,
        holds: impl Fn(&[pb::NoticeInfo]) -> bool,
    ) -> Vec<pb::NoticeInfo> {
        let holds = &holds;
        let client = self.client.clone();
        eventually(
            &format!("the inbox of {} to hold {what}", self.county),
            || {
                let mut client = client.clone();
                async move {
                    let inbox = client
                        .list_inbox(pb::ListRequest {
                            status: 0,
                            peer: String::new(),
                            limit: liaison_node::MAX_LIST_LIMIT as u32,
                        })
                        .await
                        .map_err(|s| format!("ListInbox failed: {s:?}"))?
                        .into_inner()
                        .notices;
                    if holds(&inbox) {
                        Ok(inbox)
                    } else {
                        Err(format!(
                            "{:?}",
                            inbox.iter().map(summary).collect::<Vec<_>>()
                        ))
                    }
                }
            },
        )
        .await
    }

    /// The Due call: replies on `side` ("owed", "awaited" or "" for both), only those past their
    /// deadline if `overdue_only`, as many as the node allows.
    pub async fn try_due(
        &mut self,
        side: &str,
        overdue_only: bool,
    ) -> Result<pb::DueResponse, Status> {
        self.client
            .due(pb::DueRequest {
                side: crate::names::side_named(side) as i32,
                overdue_only,
                limit: liaison_node::MAX_LIST_LIMIT as u32,
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// [`Operator::try_due`], failing the test if the node refuses.
    pub async fn due(&mut self, side: &str, overdue_only: bool) -> pb::DueResponse {
        self.try_due(side, overdue_only)
            .await
            .unwrap_or_else(|s| panic!("{} refused Due({side:?}): {s:?}", self.county))
    }

    /// What the node's Peers call says of every peer.
    pub async fn peers(&mut self) -> Vec<pb::PeerInfo> {
        self.client
            .peers(pb::PeersRequest {})
            .await
            .unwrap_or_else(|s| panic!("{} refused Peers: {s:?}", self.county))
            .into_inner()
            .peers
    }

    /// What the node's Peers call says of `county`.
    pub async fn peer(&mut self, county: &str) -> pb::PeerInfo {
        let peers = self.peers().await;
        peers
            .into_iter()
            .find(|p| p.county == county)
            .unwrap_or_else(|| panic!("{county} is not a peer of {}", self.county))
    }

    /// The Report call for the period `[from_ms, to_ms)`.
    pub async fn report(&mut self, from_ms: i64, to_ms: i64) -> pb::ReportResponse {
        self.client
            .report(pb::ReportRequest { from_ms, to_ms })
            .await
            .unwrap_or_else(|s| panic!("{} refused Report: {s:?}", self.county))
            .into_inner()
    }
}

/// How a running node runs.
enum Running {
    /// A task of this test's runtime; `stop` makes it shut down gracefully.
    InProcess {
        stop: oneshot::Sender<()>,
        task: JoinHandle<Result<(), NodeError>>,
        token: String,
    },
    /// A `liaison serve` child process.
    Process { child: Child, token: String },
}

/// One county's node: its files, its fixed addresses, and whether and how it runs.
pub struct TestNode {
    county: CountyCode,
    name: String,
    home: PathBuf,
    config: PathBuf,
    data_dir: PathBuf,
    exchange_addr: SocketAddr,
    admin_addr: SocketAddr,
    as_process: bool,
    /// The clock an in-process node is started with.
    clock: Arc<dyn Clock>,
    /// How far that clock is off the federation's; a test may change it while the node runs.
    clock_offset: Arc<AtomicI64>,
    running: Option<Running>,
}

impl TestNode {
    /// The node's county.
    pub fn county(&self) -> CountyCode {
        self.county
    }

    /// The county's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The directory with the node's `node.toml`, keys and certificates.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The node's configuration file.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// The node's data directory (store and admin token).
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone()
    }

    /// Where peers reach the node's exchange service.
    pub fn exchange_addr(&self) -> SocketAddr {
        self.exchange_addr
    }

    /// Where the node's admin interface listens.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Whether the node runs (it may still be starting, for a child process).
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Where a child-process node's output goes.
    pub fn log_path(&self) -> PathBuf {
        self.home.join("serve.log")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn token(&self) -> &str {
        match &self.running {
            Some(Running::InProcess { token, .. } | Running::Process { token, .. }) => token,
            None => panic!("node {} is not running", self.county),
        }
    }

    fn start_in_process(&mut self, exchange: TcpListener, admin: TcpListener) {
        let config = Config::load(&self.config).unwrap_or_else(|e| panic!("{e}"));
        let node = Node::start(config, self.clock.clone())
            .unwrap_or_else(|e| panic!("node {} does not start: {e}", self.county));
        let token = node.admin_token().to_owned();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(node.run(exchange, admin, async move {
            let _ = stopped.await;
        }));
        self.running = Some(Running::InProcess { stop, task, token });
    }

    /// Starts `liaison serve --config node.toml` and waits until its admin interface answers.
    /// Returns its exit status and log if it exits before that.
    async fn start_process(&mut self) -> Result<(), String> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("the node's log file opens");
        let child = Command::new(binary::liaison())
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .env("LIAISON_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file handle clones"))
            .stderr(log)
            .spawn()
            .expect("the liaison binary starts");
        self.running = Some(Running::Process {
            child,
            token: String::new(),
        });
        let token_path = self.data_dir().join("admin.token");
        let (county, admin_addr) = (self.county, self.admin_addr);
        let log_path = self.log_path();
        let Some(Running::Process { child, .. }) = &mut self.running else {
            unreachable!("just set")
        };
        let started = eventually(
            &format!("the liaison process of {county} to answer admin calls"),
            || {
                let exited = match child.try_wait() {
                    Ok(Some(status)) => Some(format!(
                        "the liaison process of {county} exited with {status}; its log:\n{}",
                        std::fs::read_to_string(&log_path).unwrap_or_default()
                    )),
                    _ => None,
                };
                let token = std::fs::read_to_string(&token_path).unwrap_or_default();
                async move {
                    if let Some(exited) = exited {
                        return Ok(Err(exited));
                    }
                    let token = token.trim().to_owned();
                    if token.is_empty() {
                        return Err("no admin token written yet".to_owned());
                    }
                    let mut client = connect_admin(admin_addr, Some(&token))
                        .await
                        .map_err(|e| format!("admin interface not reachable: {e}"))?;
                    client
                        .peers(pb::PeersRequest {})
                        .await
                        .map_err(|s| format!("Peers refused: {s:?}"))?;
                    Ok(Ok(token))
                }
            },
        )
        .await;
        match started {
            Ok(token) => {
                if let Some(Running::Process { token: slot, .. }) = &mut self.running {
                    *slot = token;
                }
                Ok(())
            }
            Err(exited) => {
                if let Some(Running::Process { mut child, .. }) = self.running.take() {
                    let _ = child.wait();
                }
                Err(exited)
            }
        }
    }
}

/// `config` with web-console accounts appended: each (name, role, password), the password hashed
/// with argon2 as `liaison console hash-password` does.
pub fn with_console_accounts(mut config: String, accounts: &[(&str, &str, &str)]) -> String {
    for (name, role, password) in accounts {
        let hash = liaison_node::console::hash_password(password).expect("a password hash");
        config.push_str(&format!(
            "\n[[console.accounts]]\nname = \"{name}\"\nrole = \"{role}\"\npassword_hash = \"{hash}\"\n"
        ));
    }
    config
}

/// The snake-case names of every kind but `kind`.
pub fn kinds_except(kind: NoticeKind) -> Vec<String> {
    NoticeKind::ALL
        .into_iter()
        .filter(|k| *k != kind)
        .map(|k| k.name().to_owned())
        .collect()
}

/// `config` (the text of a `node.toml` made by `federation::create`) with the agreement with
/// `peer` allowing only `kinds` instead of every kind.
///
/// # Panics
/// If the config has no such peer, or its agreement does not allow every kind.
pub fn agreement_allowing(mut config: String, peer: &str, kinds: &[String]) -> String {
    let section = format!("\n[[peers]]\ncounty = \"{peer}\"\n");
    let start = config
        .find(&section)
        .unwrap_or_else(|| panic!("no [[peers]] entry for {peer} in:\n{config}"));
    let end = config[start + 1..]
        .find("\n[[peers]]")
        .map_or(config.len(), |at| start + 1 + at);
    let all = "allowed_kinds = [\"all\"]";
    let at = start
        + config[start..end]
            .find(all)
            .unwrap_or_else(|| panic!("no {all} for {peer} in:\n{config}"));
    let list = kinds
        .iter()
        .map(|k| format!("\"{k}\""))
        .collect::<Vec<_>>()
        .join(", ");
    config.replace_range(at..at + all.len(), &format!("allowed_kinds = [{list}]"));
    config
}

/// `config` (the text of a `node.toml` made by `federation::create`) with its `[deadlines]`
/// section replaced by one holding `settings` (TOML lines such as `check_interval_secs = 1`), or
/// with such a section added if it has none.
pub fn with_deadlines(mut config: String, settings: &str) -> String {
    let header = "\n[deadlines]\n";
    if let Some(start) = config.find(header) {
        let end = config[start + header.len()..]
            .find("\n[")
            .map_or(config.len(), |at| start + header.len() + at);
        config.replace_range(start..end, "");
    }
    if !config.ends_with('\n') {
        config.push('\n');
    }
    config.push_str(&format!("\n[deadlines]\n{}\n", settings.trim()));
    config
}

/// A change to one node's `node.toml` before the federation starts.
type ConfigEdit = Box<dyn FnOnce(String) -> String + Send>;

/// Sets up a [`Federation`]: which nodes run as child processes, and changes to their configs.
pub struct FederationBuilder {
    counties: Vec<(CountyCode, String)>,
    edits: Vec<(CountyCode, ConfigEdit)>,
    processes: BTreeSet<CountyCode>,
    data_dirs: BTreeMap<CountyCode, PathBuf>,
    clock: Option<ManualClock>,
    clock_offsets: BTreeMap<CountyCode, i64>,
    /// `Some(refresh_secs)`: the peers come from a directory the city signs.
    signed_directory: Option<u64>,
}

/// The code of the city that signs the test federations' directories.
pub const CITY: &str = "610600";

/// A clock that runs `offset_ms` ahead of (or, if negative, behind) another: a county whose
/// clock is wrong.
#[derive(Debug)]
struct OffsetClock {
    base: Arc<dyn Clock>,
    offset_ms: Arc<AtomicI64>,
}

impl Clock for OffsetClock {
    fn now_ms(&self) -> i64 {
        self.base.now_ms() + self.offset_ms.load(Ordering::SeqCst)
    }
}

impl FederationBuilder {
    /// Runs the in-process node of `county` on a clock `offset_ms` off the federation's.
    pub fn clock_offset(mut self, county: &str, offset_ms: i64) -> Self {
        self.clock_offsets.insert(code(county), offset_ms);
        self
    }

    /// Lets `edit` rewrite the text of `county`'s `node.toml` before the node first starts.
    pub fn edit_config(
        mut self,
        county: &str,
        edit: impl FnOnce(String) -> String + Send + 'static,
    ) -> Self {
        self.edits.push((code(county), Box::new(edit)));
        self
    }

    /// Makes `node`'s agreement with `peer` allow only `kinds` (snake-case kind names).
    pub fn agreement_allows(self, node: &str, peer: &str, kinds: &[&str]) -> Self {
        let peer = peer.to_owned();
        let kinds: Vec<String> = kinds.iter().map(|k| (*k).to_owned()).collect();
        self.edit_config(node, move |config| {
            agreement_allowing(config, &peer, &kinds)
        })
    }

    /// Makes `node`'s agreement with `peer` allow every kind except `kind`.
    pub fn agreement_excludes(self, node: &str, peer: &str, kind: NoticeKind) -> Self {
        let peer = peer.to_owned();
        self.edit_config(node, move |config| {
            agreement_allowing(config, &peer, &kinds_except(kind))
        })
    }

    /// Removes `peer` from `node`'s directory, so that `node` no longer knows that county.
    pub fn without_peer(self, node: &str, peer: &str) -> Self {
        let peer = peer.to_owned();
        self.edit_config(node, move |mut config| {
            let section = format!("\n[[peers]]\ncounty = \"{peer}\"\n");
            let start = config
                .find(&section)
                .unwrap_or_else(|| panic!("no [[peers]] entry for {peer} in:\n{config}"));
            let end = config[start + 1..]
                .find("\n[[peers]]")
                .map_or(config.len(), |at| start + 1 + at);
            config.replace_range(start..end, "");
            config
        })
    }

    /// Sets the delivery back-off of `node` (first retry delay and cap, in milliseconds).
    pub fn backoff_ms(self, node: &str, initial: u64, max: u64) -> Self {
        self.edit_config(node, move |config| {
            let old = "initial_backoff_ms = 200\nmax_backoff_ms = 5000\n";
            assert!(config.contains(old), "no default back-off in:\n{config}");
            config.replace(
                old,
                &format!("initial_backoff_ms = {initial}\nmax_backoff_ms = {max}\n"),
            )
        })
    }

    /// Sets `node`'s `[deadlines]` settings (TOML lines such as `check_interval_secs = 1`).
    pub fn deadlines(self, node: &str, settings: &str) -> Self {
        let settings = settings.to_owned();
        self.edit_config(node, move |config| with_deadlines(config, &settings))
    }

    /// Runs every node on `clock` instead of the system clock: all nodes share it, so they agree
    /// on the time, and the test moves it with [`Federation::clock`]. Every signed time (issued-at,
    /// receipt time, due time) comes from it; delivery back-off still runs on real time.
    ///
    /// A child process cannot share the clock, so this cannot be combined with
    /// [`FederationBuilder::as_process`].
    pub fn manual_clock(mut self, clock: ManualClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Takes every node's peers from a directory the city (延安市, [`CITY`]) signs, instead of
    /// `[[peers]]`: each node's configuration names the signed file and the city's key, and
    /// nodes look for a newer version every `refresh_secs`. [`Federation::city`] signs new versions.
    pub fn signed_directory(mut self, refresh_secs: u64) -> Self {
        self.signed_directory = Some(refresh_secs);
        self
    }

    /// Runs `county`'s node as a `liaison serve` child process instead of in this process.
    pub fn as_process(mut self, county: &str) -> Self {
        self.processes.insert(code(county));
        self
    }

    /// Puts `county`'s data directory (store and tokens) at `dir/<county code>`, e.g. on a
    /// [`crate::lazyfs::LazyFs`] mount, while its configuration, keys and certificates stay in the
    /// federation's directory.
    pub fn data_dir_under(mut self, county: &str, dir: &Path) -> Self {
        let county = code(county);
        let data = dir.join(county.as_str());
        let line = format!("data_dir = '{}'", data.display());
        self.data_dirs.insert(county, data);
        self.edit_config(county.as_str(), move |config| {
            assert!(
                config.contains("data_dir = \"data\""),
                "no data_dir in:\n{config}"
            );
            config.replacen("data_dir = \"data\"", &line, 1)
        })
    }

    /// Makes the files, binds every listener on 127.0.0.1:0, and starts every node.
    pub async fn start(self) -> Federation {
        assert!(
            self.clock.is_none() || self.processes.is_empty(),
            "a child process cannot share the test's manual clock"
        );
        let clock: Arc<dyn Clock> = match &self.clock {
            Some(manual) => Arc::new(manual.clone()),
            None => Arc::new(SystemClock),
        };
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut listeners = Vec::new();
        let mut members = Vec::new();
        for (county, name) in &self.counties {
            let exchange = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
            members.push(Member {
                county: *county,
                name: name.clone(),
                exchange_addr: exchange.local_addr().unwrap(),
                admin_addr: admin.local_addr().unwrap(),
            });
            listeners.push((exchange, admin));
        }
        let (files, city) = match self.signed_directory {
            None => (
                federation::create(dir.path(), &members, AGREEMENT_EFFECTIVE),
                None,
            ),
            Some(refresh_secs) => {
                let city = federation::City {
                    code: CITY.into(),
                    name: "延安市".into(),
                    refresh_secs,
                    now_ms: clock.now_ms(),
                };
                match federation::create_signed(dir.path(), &members, AGREEMENT_EFFECTIVE, &city) {
                    Ok((files, city_files)) => (Ok(files), Some(city_files)),
                    Err(e) => (Err(e), None),
                }
            }
        };
        let files = files.unwrap_or_else(|e| panic!("cannot make the federation: {e}"));
        for (county, edit) in self.edits {
            let file = files
                .iter()
                .find(|f| f.county == county)
                .unwrap_or_else(|| panic!("{county} is not a member"));
            let text = std::fs::read_to_string(&file.config).unwrap();
            std::fs::write(&file.config, edit(text)).unwrap();
        }
        let mut nodes = Vec::new();
        for ((member, file), (exchange, admin)) in members.iter().zip(&files).zip(listeners) {
            let home = file.config.parent().unwrap().to_owned();
            let offset = Arc::new(AtomicI64::new(
                self.clock_offsets.get(&member.county).copied().unwrap_or(0),
            ));
            let mut node = TestNode {
                county: member.county,
                name: member.name.clone(),
                data_dir: (self.data_dirs.get(&member.county).cloned())
                    .unwrap_or_else(|| home.join("data")),
                home,
                config: file.config.clone(),
                exchange_addr: member.exchange_addr,
                admin_addr: member.admin_addr,
                as_process: self.processes.contains(&member.county),
                clock_offset: offset.clone(),
                clock: Arc::new(OffsetClock {
                    base: clock.clone(),
                    offset_ms: offset,
                }),
                running: None,
            };
            if node.as_process {
                // The child binds these addresses itself.
                drop((exchange, admin));
                node.start_process()
                    .await
                    .unwrap_or_else(|exited| panic!("{exited}"));
            } else {
                node.start_in_process(exchange, admin);
            }
            nodes.push(node);
        }
        Federation {
            nodes,
            dir,
            clock: self.clock,
            city,
        }
    }
}

/// Running nodes of several counties, each a peer of every other with an agreement for every kind
/// (unless the builder changed that), over mutual TLS with certificates from one throw-away CA.
///
/// Dropping it kills the child processes; [`Federation::shutdown`] also stops the in-process nodes
/// gracefully and checks that they stop without error.
pub struct Federation {
    nodes: Vec<TestNode>,
    dir: tempfile::TempDir,
    clock: Option<ManualClock>,
    city: Option<federation::CityFiles>,
}

impl Federation {
    /// A builder for a federation of `counties` (code, name).
    pub fn builder(counties: &[(&str, &str)]) -> FederationBuilder {
        FederationBuilder {
            counties: counties
                .iter()
                .map(|(c, name)| (code(c), (*name).to_owned()))
                .collect(),
            edits: Vec::new(),
            processes: BTreeSet::new(),
            data_dirs: BTreeMap::new(),
            clock: None,
            clock_offsets: BTreeMap::new(),
            signed_directory: None,
        }
    }

    /// Starts a federation of `counties` (code, name), every node in this process.
    pub async fn start(counties: &[(&str, &str)]) -> Federation {
        Self::builder(counties).start().await
    }

    /// The manual clock every node of this federation runs on.
    ///
    /// # Panics
    /// If the federation runs on the system clock (see [`FederationBuilder::manual_clock`]).
    pub fn clock(&self) -> &ManualClock {
        self.clock
            .as_ref()
            .expect("this federation runs on the system clock; start it with manual_clock")
    }

    /// The city's files (key, draft, signed directory) of a federation started on a signed
    /// directory.
    ///
    /// # Panics
    /// If the peers are listed by hand.
    pub fn city(&self) -> &federation::CityFiles {
        self.city
            .as_ref()
            .expect("a federation started with FederationBuilder::signed_directory")
    }

    /// The directory holding the CA and every node's files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The node of `county`.
    pub fn node(&self, county: &str) -> &TestNode {
        let county = code(county);
        self.nodes
            .iter()
            .find(|n| n.county == county)
            .unwrap_or_else(|| panic!("{county} is not a member of this federation"))
    }

    fn node_mut(&mut self, county: &str) -> &mut TestNode {
        let county = code(county);
        self.nodes
            .iter_mut()
            .find(|n| n.county == county)
            .unwrap_or_else(|| panic!("{county} is not a member of this federation"))
    }

    /// A client of `county`'s admin interface sending `token` (or none), for tests of refusals.
    pub async fn admin_client(&self, county: &str, token: Option<&str>) -> AdminClient {
        let node = self.node(county);
        connect_admin(node.admin_addr, token)
            .await
            .unwrap_or_else(|e| panic!("cannot reach the admin interface of {county}: {e}"))
    }

    /// `county`'s operator, connected with the node's admin token.
    pub async fn operator(&self, county: &str) -> Operator {
        let node = self.node(county);
        let client = self.admin_client(county, Some(node.token())).await;
        Operator {
            county: node.county,
            client,
        }
    }

    /// Sets how far `county`'s clock is off the federation's from now on (negative: behind), as
    /// when someone sets a running county's clock: every time it signs after this uses it.
    pub fn set_clock_offset(&self, county: &str, offset_ms: i64) {
        self.node(county)
            .clock_offset
            .store(offset_ms, Ordering::SeqCst);
    }

    /// Stops `county`'s in-process node gracefully and checks that it stopped without error.
    pub async fn stop(&mut self, county: &str) {
        let node = self.node_mut(county);
        match node.running.take() {
            Some(Running::InProcess { stop, task, .. }) => {
                let _ = stop.send(());
                within(&format!("stopping node {county}"), task)
                    .await
                    .unwrap_or_else(|e| panic!("node {county} panicked: {e}"))
                    .unwrap_or_else(|e| panic!("node {county} stopped with an error: {e}"));
            }
            Some(Running::Process { .. }) => {
                panic!("node {county} runs as a child process: kill it instead")
            }
            None => panic!("node {county} is not running"),
        }
    }

    /// Sends SIGTERM to `county`'s child process (with `kill -TERM`) and waits for it to exit, at
    /// most `limit`; returns its exit status and how long it took. Its output stays in
    /// [`Federation::log`].
    ///
    /// # Panics
    /// If the node is not a running child process, or it has not exited within `limit` (it is then
    /// killed).
    pub async fn terminate(
        &mut self,
        county: &str,
        limit: Duration,
    ) -> (std::process::ExitStatus, Duration) {
        let node = self.node_mut(county);
        let mut child = match node.running.take() {
            Some(Running::Process { child, .. }) => child,
            Some(running @ Running::InProcess { .. }) => {
                node.running = Some(running);
                panic!("node {county} runs in this process: stop it instead")
            }
            None => panic!("node {county} is not running"),
        };
        let started = std::time::Instant::now();
        let kill = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("the kill command runs");
        assert!(kill.success(), "kill -TERM {} failed: {kill}", child.id());
        loop {
            if let Some(status) = child
                .try_wait()
                .expect("the child process can be waited for")
            {
                return (status, started.elapsed());
            }
            if started.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "node {county} did not exit within {limit:?} of SIGTERM; its log:\n{}",
                    node.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills `county`'s child process with SIGKILL and reaps it.
    pub fn kill(&mut self, county: &str) {
        let node = self.node_mut(county);
        match node.running.take() {
            Some(Running::Process { mut child, .. }) => {
                child.kill().expect("the child process can be killed");
                child.wait().expect("the killed child process is reaped");
            }
            Some(running @ Running::InProcess { .. }) => {
                node.running = Some(running);
                panic!("node {county} runs in this process: stop it instead")
            }
            None => panic!("node {county} is not running"),
        }
    }

    /// Kills the child processes of `counties` with SIGKILL all at once, as a power cut stops
    /// every process, then reaps them.
    pub fn kill_together(&mut self, counties: &[&str]) {
        let mut children = Vec::new();
        for county in counties {
            let node = self.node_mut(county);
            match node.running.take() {
                Some(Running::Process { mut child, .. }) => {
                    child.kill().expect("the child process can be killed");
                    children.push(child);
                }
                Some(running @ Running::InProcess { .. }) => {
                    node.running = Some(running);
                    panic!("node {county} runs in this process: stop it instead")
                }
                None => panic!("node {county} is not running"),
            }
        }
        for mut child in children {
            child.wait().expect("the killed child process is reaped");
        }
    }

    /// Starts `county`'s killed child process again, like [`Federation::restart`], but returns
    /// its exit status and log instead of failing the test if it exits before it answers.
    pub async fn try_restart(&mut self, county: &str) -> Result<(), String> {
        let node = self.node_mut(county);
        assert!(node.running.is_none(), "node {county} is still running");
        assert!(node.as_process, "node {county} runs in this process");
        node.start_process().await
    }

    /// Starts `county`'s stopped or killed node again, on the same addresses, with the same
    /// configuration and data.
    pub async fn restart(&mut self, county: &str) {
        let node = self.node_mut(county);
        assert!(node.running.is_none(), "node {county} is still running");
        if node.as_process {
            node.start_process()
                .await
                .unwrap_or_else(|exited| panic!("{exited}"));
        } else {
            let bind = |addr: SocketAddr| async move {
                TcpListener::bind(addr)
                    .await
                    .unwrap_or_else(|e| panic!("cannot bind {addr} again for {county}: {e}"))
            };
            let exchange = bind(node.exchange_addr).await;
            let admin = bind(node.admin_addr).await;
            node.start_in_process(exchange, admin);
        }
    }

    /// Lets `edit` rewrite the text of the stopped node's `node.toml`, to take effect on restart.
    pub fn edit_config(&self, county: &str, edit: impl FnOnce(String) -> String) {
        let node = self.node(county);
        assert!(!node.is_running(), "node {county} is running");
        let text = std::fs::read_to_string(&node.config).unwrap();
        std::fs::write(&node.config, edit(text)).unwrap();
    }

    /// The signing key of `county`, read from its `signing.pem`.
    pub fn signing_key(&self, county: &str) -> NodeKey {
        let path = self.node(county).home.join("signing.pem");
        let text = std::fs::read_to_string(&path).unwrap();
        NodeKey::new(pki::signing_key_from_pem(&text, &path).unwrap_or_else(|e| panic!("{e}")))
    }

    /// The public key with which `county` signs notices and receipts.
    pub fn public_key(&self, county: &str) -> VerifyingKey {
        self.signing_key(county).verifying_key()
    }

    /// A raw exchange client that connects to `to`'s node as county `as_county`, with that
    /// county's TLS certificate and key.
    pub async fn peer(&self, as_county: &str, to: &str) -> ExchangeClient<Channel> {
        let target = self.node(to);
        peer::connect(
            self.node(as_county).home(),
            &self.dir().join("ca.crt"),
            target.county,
            target.exchange_addr,
        )
        .await
    }

    /// Opens the store of `county`'s node, which must be stopped.
    pub fn open_store(&self, county: &str) -> liaison_store::Store {
        let node = self.node(county);
        assert!(!node.is_running(), "node {county} is running");
        let path = node.data_dir().join("store");
        liaison_store::Store::open(&path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()))
    }

    /// The output of `county`'s child process so far.
    pub fn log(&self, county: &str) -> String {
        self.node(county).log()
    }

    /// Stops every in-process node gracefully (checking each stops without error) and kills
    /// every child process.
    pub async fn shutdown(mut self) {
        let counties: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| n.is_running())
            .map(|n| n.county.to_string())
            .collect();
        for county in counties {
            if self.node(&county).as_process {
                self.kill(&county);
            } else {
                self.stop(&county).await;
            }
        }
    }
}

impl Drop for Federation {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(Running::Process { mut child, .. }) = node.running.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
