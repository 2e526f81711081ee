//! The node's configuration file: parsed and checked completely, every problem reported with its
//! key, before any port is bound.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use liaison_core::checkpoint::NoteVerifierKey;
use liaison_core::deadline::{DEFAULT_DUE_SOON_MS, PolicyDoc, RuleDoc};
use liaison_core::trust::{Agreement, Directory, Limits, Peer, PeerKey};
use liaison_core::{CountyCode, DuePolicy, HolidayCalendar, NoticeKind};
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

use crate::pki;

/// Default port of the peer-facing exchange service.
pub const DEFAULT_EXCHANGE_ADDR: &str = "0.0.0.0:7443";
/// Default address of the admin interface: loopback only.
pub const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:7080";
/// The largest per-envelope limit an administrator may set: well under the exchange service's
/// message limit, so an oversized envelope always gets a signed TOO_LARGE rather than a transport error.
pub const MAX_ENVELOPE_LIMIT: usize = 16 * 1024 * 1024;
/// How often the deadline tracker runs.
pub const DEFAULT_TRACKER_INTERVAL: Duration = Duration::from_secs(60);
/// Envelopes per delivery call.
pub const DEFAULT_BATCH_SIZE: usize = 64;
/// First retry delay after a failed delivery.
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(500);
/// Longest delay between retries.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How long one delivery call may take before it counts as failed.
pub const DEFAULT_DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
/// Envelopes one `Deliver` call may carry: four times the default batch a sender builds.
pub const DEFAULT_MAX_BATCH_ENVELOPES: usize = 256;
/// Bytes one exchange request may hold: twice the 4 MiB batch a sender builds.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;
/// Room a request needs beside its largest envelope (existence proofs, framing).
pub const REQUEST_OVERHEAD_BYTES: usize = 64 * 1024;
/// The largest request limit an administrator may set.
pub const MAX_REQUEST_LIMIT: usize = 64 * 1024 * 1024;
/// Open exchange connections, handshakes included, of all clients together.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// Open exchange connections of one client certificate: a node needs one per peer.
pub const DEFAULT_MAX_CONNECTIONS_PER_PEER: usize = 4;
/// Calls one exchange connection may have in progress: a node has a few batches in flight.
pub const DEFAULT_MAX_STREAMS_PER_CONNECTION: u32 = 8;
/// Time a client has from connecting to completing the TLS handshake.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time an exchange connection may pass without a byte in either direction.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// A checked node configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub county: CountyCode,
    pub name: String,
    pub data_dir: PathBuf,
    pub signing_key: PathBuf,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// The CA file of `[tls]`; `None` with a signed directory, whose counties' `tls_ca` are the roots.
    pub tls_ca: Option<PathBuf>,
    pub exchange_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub limits: Limits,
    /// What the exchange service takes from its clients.
    pub exchange: ExchangeLimits,
    pub delivery: DeliverySettings,
    pub deadlines: DeadlineSettings,
    /// The peers listed by hand (`[[peers]]`); empty when a signed directory is configured.
    pub directory: Directory,
    /// The federation directory the city signs (`[directory]`), if the node uses one.
    pub signed_directory: Option<DirectorySource>,
    pub console: ConsoleSettings,
}

/// Where the node finds the directory the city signs, and the city's key.
#[derive(Debug, Clone)]
pub struct DirectorySource {
    /// The signed directory file; re-read every refresh.
    pub file: PathBuf,
    /// The city's note verifier key, `liaison/city/<code>+<id>+<key>`.
    pub city_key: NoteVerifierKey,
    /// How often the node re-reads the file and asks one peer for a newer version.
    pub refresh: Duration,
}

/// How often a node looks for a newer directory unless `directory.refresh_secs` says otherwise.
pub const DEFAULT_DIRECTORY_REFRESH: Duration = Duration::from_secs(60);

/// Who may sign in to the web console on the admin listener.
#[derive(Debug, Clone, Default)]
pub struct ConsoleSettings {
    pub accounts: Vec<ConsoleAccount>,
}

/// One console account: an operator or an auditor, with an argon2 password hash (PHC string,
/// made by `liaison console hash-password`).
#[derive(Debug, Clone)]
pub struct ConsoleAccount {
    pub name: String,
    pub role: crate::Role,
    pub password_hash: String,
}

/// How the node tracks reply deadlines.
#[derive(Debug, Clone)]
pub struct DeadlineSettings {
    pub policy: DuePolicy,
    pub calendar: HolidayCalendar,
    /// A reply is "due soon" this long before its deadline.
    pub due_soon_ms: i64,
    /// How often the tracker looks for deadlines that passed or came near.
    pub check_interval: Duration,
    /// Send the other county a signed reminder (催办) when a reply it owes becomes overdue.
    pub send_reminders: bool,
}

impl Default for DeadlineSettings {
    fn default() -> Self {
        Self {
            policy: DuePolicy::default(),
            calendar: HolidayCalendar::builtin(),
            due_soon_ms: DEFAULT_DUE_SOON_MS,
            check_interval: DEFAULT_TRACKER_INTERVAL,
            send_reminders: false,
        }
    }
}

/// What the exchange service takes from its clients (`[limits]`), so that one client cannot
/// exhaust the node for the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExchangeLimits {
    /// Envelopes one `Deliver` call may carry; more is refused with `RESOURCE_EXHAUSTED`.
    pub max_batch_envelopes: usize,
    /// Bytes of one encoded request; more is refused with `OUT_OF_RANGE`.
    pub max_request_bytes: usize,
    /// Open connections of all clients together, handshakes included.
    pub max_connections: usize,
    /// Open connections of one client certificate.
    pub max_connections_per_peer: usize,
    /// Calls one connection may have in progress (HTTP/2 `SETTINGS_MAX_CONCURRENT_STREAMS`).
    pub max_streams_per_connection: u32,
    /// Time from connecting to the end of the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time a connection may pass without a byte in either direction.
    pub idle_timeout: Duration,
}

impl Default for ExchangeLimits {
    fn default() -> Self {
        Self {
            max_batch_envelopes: DEFAULT_MAX_BATCH_ENVELOPES,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_peer: DEFAULT_MAX_CONNECTIONS_PER_PEER,
            max_streams_per_connection: DEFAULT_MAX_STREAMS_PER_CONNECTION,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

/// How the node delivers its outbox.
#[derive(Debug, Clone, Copy)]
pub struct DeliverySettings {
    pub batch_size: usize,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub timeout: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            batch_size: DEFAULT_BATCH_SIZE,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            timeout: DEFAULT_DELIVERY_TIMEOUT,
        }
    }
}

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

/// Every problem found in a configuration file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} has {} problem(s):",
            self.file.display(),
            self.problems.len()
        )?;
        for p in &self.problems {
            writeln!(f, "  {}: {}", p.key, p.message)?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    node: RawNode,
    tls: RawTls,
    #[serde(default)]
    listen: RawListen,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    delivery: RawDelivery,
    #[serde(default)]
    deadlines: RawDeadlines,
    directory: Option<RawDirectory>,
    #[serde(default)]
    peers: Vec<RawPeer>,
    #[serde(default)]
    console: RawConsole,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDirectory {
    file: PathBuf,
    city_key: String,
    refresh_secs: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConsole {
    #[serde(default)]
    accounts: Vec<RawAccount>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    name: String,
    role: String,
    password_hash: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDeadlines {
    due_soon_days: Option<u32>,
    holiday_extension: Option<bool>,
    /// A directory of extra working-day calendars, one `<year>.toml` per year.
    calendars: Option<PathBuf>,
    check_interval_secs: Option<u64>,
    send_reminders: Option<bool>,
    #[serde(default)]
    rules: std::collections::BTreeMap<String, RuleDoc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    county: String,
    name: String,
    data_dir: PathBuf,
    signing_key: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: PathBuf,
    key: PathBuf,
    ca: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawListen {
    exchange: Option<String>,
    admin: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_envelope_bytes: Option<usize>,
    max_clock_skew_secs: Option<u64>,
    retired_key_grace_secs: Option<u64>,
    max_batch_envelopes: Option<usize>,
    max_request_bytes: Option<usize>,
    max_connections: Option<usize>,
    max_connections_per_peer: Option<usize>,
    max_streams_per_connection: Option<u32>,
    handshake_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDelivery {
    batch_size: Option<usize>,
    initial_backoff_ms: Option<u64>,
    max_backoff_ms: Option<u64>,
    timeout_secs: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeer {
    county: String,
    name: String,
    endpoint: String,
    #[serde(default)]
    keys: Vec<RawKey>,
    agreement: Option<RawAgreement>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    public_key: String,
    valid_from: Option<String>,
    valid_until: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgreement {
    effective: String,
    allowed_kinds: Vec<String>,
    #[serde(default)]
    responsible_person: String,
    contact_person: String,
    phone: String,
    #[serde(default)]
    postcode: String,
}

struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn problem(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            key: key.into(),
            message: message.into(),
        });
    }

    fn check<T, E: fmt::Display>(
        &mut self,
        key: impl Into<String>,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.problem(key, e.to_string());
                None
            }
        }
    }
}

fn parse_instant(text: &str) -> Result<i64, String> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|e| {
            format!("{text:?} is not an RFC 3339 time such as 2026-01-01T00:00:00+08:00: {e}")
        })
}

fn parse_date(text: &str) -> Result<Date, String> {
    liaison_core::parse_date(text).map_err(|e| e.to_string())
}

fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|e| format!("{text:?} is not an address such as 127.0.0.1:7443: {e}"))
}

impl Config {
    /// Reads and checks the configuration file at `path`. Relative paths in it are relative to the
    /// file's directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let fail = |key: &str, message: String| ConfigError {
            file: path.to_owned(),
            problems: vec![Problem {
                key: key.into(),
                message,
            }],
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| fail("(file)", format!("cannot read it: {e}")))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base).map_err(|problems| ConfigError {
            file: path.to_owned(),
            problems,
        })
    }

    /// Parses configuration text; relative paths are resolved against `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Self, Vec<Problem>> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let key = e
                .span()
                .map(|s| {
                    format!(
                        "(line {})",
                        text[..s.start.min(text.len())].lines().count().max(1)
                    )
                })
                .unwrap_or_default();
            vec![Problem {
                key,
                message: e.message().to_owned(),
            }]
        })?;
        let mut c = Checker {
            problems: Vec::new(),
        };
        let county = c.check("node.county", CountyCode::parse(&raw.node.county));
        if raw.node.name.trim().is_empty() {
            c.problem("node.name", "must not be empty");
        }
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_owned()
            } else {
                base.join(p)
            }
        };
        let exchange_addr = c.check(
            "listen.exchange",
            parse_addr(
                raw.listen
                    .exchange
                    .as_deref()
                    .unwrap_or(DEFAULT_EXCHANGE_ADDR),
            ),
        );
        let admin_addr = c.check(
            "listen.admin",
            parse_addr(raw.listen.admin.as_deref().unwrap_or(DEFAULT_ADMIN_ADDR)),
        );
        if let Some(addr) = admin_addr
            && !addr.ip().is_loopback()
        {
            c.problem("listen.admin", format!("{addr} is not a loopback address; the admin interface must not be reachable from other machines"));
        }
        let defaults = Limits::default();
        let limits = Limits {
            max_envelope_bytes: raw
                .limits
                .max_envelope_bytes
                .unwrap_or(defaults.max_envelope_bytes),
            max_clock_skew_ms: raw
                .limits
                .max_clock_skew_secs
                .map_or(defaults.max_clock_skew_ms, |s| {
                    s.saturating_mul(1000) as i64
                }),
            retired_key_grace_ms: raw
                .limits
                .retired_key_grace_secs
                .map_or(defaults.retired_key_grace_ms, |s| {
                    s.saturating_mul(1000).min(i64::MAX as u64) as i64
                }),
        };
        if !(1024..=MAX_ENVELOPE_LIMIT).contains(&limits.max_envelope_bytes) {
            c.problem(
                "limits.max_envelope_bytes",
                format!("must be between 1024 and {MAX_ENVELOPE_LIMIT}"),
            );
        }
        let exchange = check_exchange_limits(&mut c, &raw.limits, limits.max_envelope_bytes);
        let d = DeliverySettings::default();
        let delivery = DeliverySettings {
            batch_size: raw.delivery.batch_size.unwrap_or(d.batch_size),
            initial_backoff: raw
                .delivery
                .initial_backoff_ms
                .map_or(d.initial_backoff, Duration::from_millis),
            max_backoff: raw
                .delivery
                .max_backoff_ms
                .map_or(d.max_backoff, Duration::from_millis),
            timeout: raw
                .delivery
                .timeout_secs
                .map_or(d.timeout, Duration::from_secs),
        };
        if !(1..=1000).contains(&delivery.batch_size) {
            c.problem("delivery.batch_size", "must be between 1 and 1000");
        }
        if delivery.initial_backoff.is_zero() || delivery.max_backoff < delivery.initial_backoff {
            c.problem(
                "delivery",
                "initial_backoff_ms must be positive and not above max_backoff_ms",
            );
        }
        let deadlines = check_deadlines(&mut c, &raw.deadlines, &resolve);
        let mut peers = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, p) in raw.peers.iter().enumerate() {
            if let Some(peer) = check_peer(&mut c, i, p, county) {
                if !seen.insert(peer.county) {
                    c.problem(
                        format!("peers[{i}].county"),
                        format!("{} is listed twice", peer.county),
                    );
                }
                peers.push(peer);
            }
        }
        let console = check_console(&mut c, &raw.console);
        let signed_directory = raw.directory.as_ref().and_then(|d| {
            let city_key = c.check(
                "directory.city_key",
                NoteVerifierKey::parse(d.city_key.trim()),
            );
            if city_key
                .as_ref()
                .is_some_and(|k| !k.name().starts_with("liaison/city/"))
            {
                c.problem(
                    "directory.city_key",
                    "must be the city's key, named liaison/city/<city code>",
                );
            }
            if d.refresh_secs == Some(0) {
                c.problem("directory.refresh_secs", "must be at least 1");
            }
            Some(DirectorySource {
                file: resolve(&d.file),
                city_key: city_key?,
                refresh: d
                    .refresh_secs
                    .map_or(DEFAULT_DIRECTORY_REFRESH, Duration::from_secs),
            })
        });
        if raw.directory.is_some() && !raw.peers.is_empty() {
            c.problem(
                "peers",
                "with [directory], the peers come from the signed directory: remove [[peers]]",
            );
        }
        if raw.directory.is_none() && raw.tls.ca.is_none() {
            c.problem(
                "tls.ca",
                "required without [directory] (with it, the counties' tls_ca are the CAs)",
            );
        }
        match (county, exchange_addr, admin_addr) {
            (Some(county), Some(exchange_addr), Some(admin_addr)) if c.problems.is_empty() => {
                Ok(Self {
                    county,
                    name: raw.node.name,
                    data_dir: resolve(&raw.node.data_dir),
                    signing_key: resolve(&raw.node.signing_key),
                    tls_cert: resolve(&raw.tls.cert),
                    tls_key: resolve(&raw.tls.key),
                    tls_ca: raw.tls.ca.as_deref().map(resolve),
                    exchange_addr,
                    admin_addr,
                    limits,
                    exchange,
                    delivery,
                    deadlines,
                    directory: Directory::new(peers),
                    signed_directory,
                    console,
                })
            }
            _ => Err(c.problems),
        }
    }

    /// Where the admin interface's bearer token is kept.
    pub fn admin_token_path(&self) -> PathBuf {
        self.data_dir.join("admin.token")
    }

    /// Where the auditors' bearer token is kept: it reads metadata and exports redacted bundles.
    pub fn auditor_token_path(&self) -> PathBuf {
        self.data_dir.join("auditor.token")
    }
}

fn check_exchange_limits(
    c: &mut Checker,
    raw: &RawLimits,
    max_envelope_bytes: usize,
) -> ExchangeLimits {
    let d = ExchangeLimits::default();
    let least_request = max_envelope_bytes.saturating_add(REQUEST_OVERHEAD_BYTES);
    let limits = ExchangeLimits {
        max_batch_envelopes: raw.max_batch_envelopes.unwrap_or(d.max_batch_envelopes),
        // A larger envelope limit raises the default request limit with it.
        max_request_bytes: raw
            .max_request_bytes
            .unwrap_or(d.max_request_bytes.max(least_request)),
        max_connections: raw.max_connections.unwrap_or(d.max_connections),
        max_connections_per_peer: raw
            .max_connections_per_peer
            .unwrap_or(d.max_connections_per_peer),
        max_streams_per_connection: raw
            .max_streams_per_connection
            .unwrap_or(d.max_streams_per_connection),
        handshake_timeout: raw
            .handshake_timeout_secs
            .map_or(d.handshake_timeout, Duration::from_secs),
        idle_timeout: raw
            .idle_timeout_secs
            .map_or(d.idle_timeout, Duration::from_secs),
    };
    if !(1..=10_000).contains(&limits.max_batch_envelopes) {
        c.problem("limits.max_batch_envelopes", "must be between 1 and 10000");
    }
    if !(least_request..=MAX_REQUEST_LIMIT).contains(&limits.max_request_bytes) {
        c.problem(
            "limits.max_request_bytes",
            format!(
                "must be between {least_request} (limits.max_envelope_bytes + {REQUEST_OVERHEAD_BYTES}, \
                 so that any envelope fits in a request alone) and {MAX_REQUEST_LIMIT}"
            ),
        );
    }
    if limits.max_connections == 0 {
        c.problem("limits.max_connections", "must be at least 1");
    }
    if limits.max_connections_per_peer == 0
        || limits.max_connections_per_peer > limits.max_connections
    {
        c.problem(
            "limits.max_connections_per_peer",
            "must be at least 1 and not above limits.max_connections",
        );
    }
    if limits.max_streams_per_connection == 0 {
        c.problem("limits.max_streams_per_connection", "must be at least 1");
    }
    if limits.handshake_timeout.is_zero() {
        c.problem("limits.handshake_timeout_secs", "must be at least 1");
    }
    if limits.idle_timeout.is_zero() {
        c.problem("limits.idle_timeout_secs", "must be at least 1");
    }
    limits
}

fn check_console(c: &mut Checker, raw: &RawConsole) -> ConsoleSettings {
    let mut accounts = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, a) in raw.accounts.iter().enumerate() {
        let at = format!("console.accounts[{i}]");
        let name = a.name.trim();
        if name.is_empty() || name.chars().any(char::is_control) {
            c.problem(
                format!("{at}.name"),
                "must not be empty or hold control characters",
            );
        } else if !seen.insert(name.to_owned()) {
            c.problem(format!("{at}.name"), format!("{name:?} is listed twice"));
        }
        let role = match a.role.as_str() {
            "operator" => Some(crate::Role::Operator),
            "auditor" => Some(crate::Role::Auditor),
            other => {
                c.problem(
                    format!("{at}.role"),
                    format!("{other:?} is not \"operator\" or \"auditor\""),
                );
                None
            }
        };
        let hash_ok = c
            .check(
                format!("{at}.password_hash"),
                crate::console::check_password_hash(&a.password_hash),
            )
            .is_some();
        if let (Some(role), true) = (role, hash_ok) {
            accounts.push(ConsoleAccount {
                name: name.to_owned(),
                role,
                password_hash: a.password_hash.clone(),
            });
        }
    }
    ConsoleSettings { accounts }
}

fn check_deadlines(
    c: &mut Checker,
    raw: &RawDeadlines,
    resolve: &dyn Fn(&Path) -> PathBuf,
) -> DeadlineSettings {
    let mut settings = DeadlineSettings::default();
    if let Some(days) = raw.due_soon_days {
        settings.due_soon_ms = i64::from(days) * 24 * 3600 * 1000;
    }
    if let Some(secs) = raw.check_interval_secs {
        if secs == 0 {
            c.problem("deadlines.check_interval_secs", "must be at least 1");
        }
        settings.check_interval = Duration::from_secs(secs.max(1));
    }
    settings.send_reminders = raw.send_reminders.unwrap_or(false);
    let policy = PolicyDoc {
        holiday_extension: raw.holiday_extension,
        rules: raw.rules.clone(),
    };
    match policy.to_policy() {
        Ok(policy) => settings.policy = policy,
        Err(problems) => {
            for (key, message) in problems {
                c.problem(format!("deadlines.{key}"), message);
            }
        }
    }
    if let Some(dir) = &raw.calendars {
        let dir = resolve(dir);
        match std::fs::read_dir(&dir) {
            Err(e) => c.problem(
                "deadlines.calendars",
                format!("cannot read {}: {e}", dir.display()),
            ),
            Ok(entries) => {
                let mut files: Vec<PathBuf> = entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                    .collect();
                files.sort();
                for file in files {
                    let label = file.display().to_string();
                    match std::fs::read_to_string(&file) {
                        Err(e) => {
                            c.problem("deadlines.calendars", format!("cannot read {label}: {e}"))
                        }
                        Ok(text) => {
                            c.check(
                                "deadlines.calendars",
                                settings.calendar.add_year_toml(&label, &text),
                            );
                        }
                    }
                }
            }
        }
    }
    settings
}

fn check_peer(c: &mut Checker, i: usize, p: &RawPeer, me: Option<CountyCode>) -> Option<Peer> {
    let at = |field: &str| format!("peers[{i}].{field}");
    let county = c.check(at("county"), CountyCode::parse(&p.county));
    if county.is_some() && county == me {
        c.problem(at("county"), "a node cannot list itself as a peer");
    }
    if !(p.endpoint.starts_with("https://")) {
        c.problem(
            at("endpoint"),
            format!(
                "{:?} must start with https:// (peers talk over mutual TLS)",
                p.endpoint
            ),
        );
    }
    if p.keys.is_empty() {
        c.problem(at("keys"), "list at least one signing key of the peer");
    }
    let mut keys = Vec::new();
    for (k, raw) in p.keys.iter().enumerate() {
        let key_at = |field: &str| format!("peers[{i}].keys[{k}].{field}");
        let key = c.check(
            key_at("public_key"),
            pki::verifying_key_from_text(&raw.public_key),
        );
        let from = raw.valid_from.as_deref().map(parse_instant).transpose();
        let until = raw.valid_until.as_deref().map(parse_instant).transpose();
        let from = c.check(key_at("valid_from"), from);
        let until = c.check(key_at("valid_until"), until);
        if let (Some(key), Some(from), Some(until)) = (key, from, until) {
            let valid_from_ms = from.unwrap_or(i64::MIN);
            if until.is_some_and(|u| u <= valid_from_ms) {
                c.problem(key_at("valid_until"), "must be after valid_from");
            }
            keys.push(PeerKey {
                key,
                valid_from_ms,
                valid_until_ms: until,
            });
        }
    }
    let agreement = p.agreement.as_ref().and_then(|a| {
        let effective = c.check(at("agreement.effective"), parse_date(&a.effective));
        let mut allowed_kinds = BTreeSet::new();
        for (k, name) in a.allowed_kinds.iter().enumerate() {
            if name == "all" {
                allowed_kinds.extend(NoticeKind::ALL);
            } else if let Some(kind) = c.check(
                format!("peers[{i}].agreement.allowed_kinds[{k}]"),
                name.parse::<NoticeKind>(),
            ) {
                allowed_kinds.insert(kind);
            }
        }
        if a.contact_person.trim().is_empty() {
            c.problem(
                at("agreement.contact_person"),
                "must name the contact person (联系人)",
            );
        }
        if a.phone.trim().is_empty() {
            c.problem(
                at("agreement.phone"),
                "must give the contact phone (联系电话)",
            );
        }
        Some(Agreement {
            allowed_kinds,
            responsible_person: a.responsible_person.clone(),
            contact_person: a.contact_person.clone(),
            phone: a.phone.clone(),
            postcode: a.postcode.clone(),
            effective: effective?,
        })
    });
    Some(Peer {
        county: county?,
        name: p.name.clone(),
        endpoint: p.endpoint.clone(),
        keys,
        agreement,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_HEX: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

    fn minimal(peers: &str) -> String {
        format!(
            r#"
[node]
county = "610602"
name = "宝塔区"
data_dir = "data"
signing_key = "key.pem"
[tls]
cert = "node.crt"
key = "node.key"
ca = "ca.crt"
{peers}"#
        )
    }

    #[test]
    fn minimal_config_gets_defaults_and_resolves_paths() {
        let config = Config::parse(&minimal(""), Path::new("/etc/liaison")).unwrap();
        assert_eq!(config.data_dir, Path::new("/etc/liaison/data"));
        assert_eq!(config.admin_addr, DEFAULT_ADMIN_ADDR.parse().unwrap());
        assert_eq!(config.limits, Limits::default());
    }

    #[test]
    fn exchange_limits_have_defaults_and_are_read_from_limits() {
        let config = Config::parse(&minimal(""), Path::new(".")).unwrap();
        assert_eq!(config.exchange, ExchangeLimits::default());
        assert_eq!(config.exchange.max_batch_envelopes, 256);
        assert_eq!(config.exchange.max_request_bytes, 8 * 1024 * 1024);
        let text = minimal(
            "[limits]\nmax_batch_envelopes = 3\nmax_request_bytes = 400000\nmax_connections = 9\n\
             max_connections_per_peer = 2\nmax_streams_per_connection = 4\n\
             handshake_timeout_secs = 1\nidle_timeout_secs = 7\n",
        );
        let config = Config::parse(&text, Path::new(".")).unwrap();
        assert_eq!(
            config.exchange,
            ExchangeLimits {
                max_batch_envelopes: 3,
                max_request_bytes: 400_000,
                max_connections: 9,
                max_connections_per_peer: 2,
                max_streams_per_connection: 4,
                handshake_timeout: Duration::from_secs(1),
                idle_timeout: Duration::from_secs(7),
            }
        );
    }

    #[test]
    fn a_larger_envelope_limit_raises_the_default_request_limit() {
        let text = minimal("[limits]\nmax_envelope_bytes = 16777216\n");
        let config = Config::parse(&text, Path::new(".")).unwrap();
        assert_eq!(
            config.exchange.max_request_bytes,
            16 * 1024 * 1024 + REQUEST_OVERHEAD_BYTES,
            "an envelope of the largest size still fits in a request"
        );
    }

    #[test]
    fn exchange_limits_out_of_range_are_each_named() {
        let text = minimal(
            "[limits]\nmax_batch_envelopes = 0\nmax_request_bytes = 300000\nmax_connections = 4\n\
             max_connections_per_peer = 5\nmax_streams_per_connection = 0\n\
             handshake_timeout_secs = 0\nidle_timeout_secs = 0\n",
        );
        let problems = Config::parse(&text, Path::new(".")).unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "limits.max_batch_envelopes",
                "limits.max_request_bytes",
                "limits.max_connections_per_peer",
                "limits.max_streams_per_connection",
                "limits.handshake_timeout_secs",
                "limits.idle_timeout_secs",
            ],
            "{problems:?}"
        );
        let request = &problems[1].message;
        assert!(
            request.contains("327680") && request.contains("max_envelope_bytes"),
            "says the least allowed and why: {request}"
        );
    }

    #[test]
    fn limits_are_read_in_seconds() {
        let text = minimal("[limits]\nmax_clock_skew_secs = 60\nretired_key_grace_secs = 172800\n");
        let config = Config::parse(&text, Path::new(".")).unwrap();
        assert_eq!(config.limits.max_clock_skew_ms, 60_000);
        assert_eq!(config.limits.retired_key_grace_ms, 172_800_000);
        assert_eq!(
            Limits::default().retired_key_grace_ms,
            7 * 24 * 3_600_000,
            "seven days unless configured"
        );
    }

    #[test]
    fn peer_with_agreement_is_read() {
        let peers = format!(
            r#"
[[peers]]
county = "610603"
name = "安塞区"
endpoint = "https://127.0.0.1:7444"
keys = [{{ public_key = "{KEY_HEX}", valid_from = "2026-01-01T00:00:00+08:00" }}]
agreement = {{ effective = "2026-01-01", allowed_kinds = ["case_notice", "reply_letter"], contact_person = "王芳", phone = "0911-1234567" }}
"#
        );
        let config = Config::parse(&minimal(&peers), Path::new(".")).unwrap();
        let peer = config
            .directory
            .get(CountyCode::parse("610603").unwrap())
            .unwrap();
        assert_eq!(peer.keys.len(), 1);
        let agreement = peer.agreement.as_ref().unwrap();
        assert!(agreement.allowed_kinds.contains(&NoticeKind::CaseNotice));
        assert!(!agreement.allowed_kinds.contains(&NoticeKind::Bulletin));
    }

    #[test]
    fn console_accounts_are_checked_with_every_problem_named() {
        let hash = crate::console::hash_password("pass").unwrap();
        let text = minimal(&format!(
            r#"
[[console.accounts]]
name = "wang"
role = "operator"
password_hash = "{hash}"
[[console.accounts]]
name = "wang"
role = "admin"
password_hash = "plain-text"
"#
        ));
        let problems = Config::parse(&text, Path::new("/etc/liaison")).unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "console.accounts[1].name",
                "console.accounts[1].role",
                "console.accounts[1].password_hash"
            ],
            "{problems:?}"
        );
        let good = minimal(&format!(
            "[[console.accounts]]\nname = \"li\"\nrole = \"auditor\"\npassword_hash = \"{hash}\"\n"
        ));
        let config = Config::parse(&good, Path::new("/etc/liaison")).unwrap();
        assert_eq!(config.console.accounts.len(), 1);
        assert_eq!(config.console.accounts[0].role, crate::Role::Auditor);
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let text = r#"
[node]
county = "61060"
name = ""
data_dir = "data"
signing_key = "key.pem"
[tls]
cert = "node.crt"
key = "node.key"
ca = "ca.crt"
[listen]
admin = "0.0.0.0:7080"
[[peers]]
county = "610603"
name = "安塞区"
endpoint = "http://127.0.0.1:7444"
keys = [{ public_key = "nonsense" }]
agreement = { effective = "2026-13-01", allowed_kinds = ["gossip"], contact_person = "", phone = "1" }
"#;
        let problems = Config::parse(text, Path::new(".")).unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        for expected in [
            "node.county",
            "node.name",
            "listen.admin",
            "peers[0].endpoint",
            "peers[0].keys[0].public_key",
            "peers[0].agreement.effective",
            "peers[0].agreement.allowed_kinds[0]",
            "peers[0].agreement.contact_person",
        ] {
            assert!(keys.contains(&expected), "missing {expected} in {keys:?}");
        }
    }

    /// Its key ID does not match its name and key.
    const BAD_CITY_KEY: &str =
        "liaison/city/610600+6ae4e6a0+AdkmfdyLa4G6RWnhsQYjHU17Vz0RuHs/ju3/vfXkcU0b";

    fn city_key() -> String {
        let key = liaison_core::NodeKey::new(ed25519_dalek::SigningKey::from_bytes(&[7; 32]));
        liaison_core::directory::city_verifier_key("610600", &key)
            .unwrap()
            .to_string()
    }

    #[test]
    fn a_signed_directory_replaces_peers_and_the_ca_file() {
        let text = minimal(&format!(
            "[directory]\nfile = \"directory.note\"\ncity_key = \"{}\"\nrefresh_secs = 5\n",
            city_key()
        ))
        .replace("ca = \"ca.crt\"\n", "");
        let config = Config::parse(&text, Path::new("/etc/liaison")).unwrap();
        let source = config.signed_directory.unwrap();
        assert_eq!(source.file, Path::new("/etc/liaison/directory.note"));
        assert_eq!(source.refresh, Duration::from_secs(5));
        assert_eq!(config.tls_ca, None);
        assert_eq!(config.directory.peers().count(), 0);
    }

    #[test]
    fn a_signed_directory_and_hand_listed_peers_do_not_mix() {
        let text = minimal(&format!(
            "[directory]\nfile = \"d.note\"\ncity_key = \"{BAD_CITY_KEY}\"\nrefresh_secs = 0\n\
             [[peers]]\ncounty = \"610603\"\nname = \"安塞区\"\nendpoint = \"https://a:1\"\n\
             keys = [{{ public_key = \"{KEY_HEX}\" }}]\n"
        ));
        let problems = Config::parse(&text, Path::new(".")).unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            ["directory.city_key", "directory.refresh_secs", "peers"],
            "{problems:?}"
        );
        let no_ca = minimal("").replace("ca = \"ca.crt\"\n", "");
        let problems = Config::parse(&no_ca, Path::new(".")).unwrap_err();
        assert_eq!(problems[0].key, "tls.ca", "{problems:?}");
    }

    #[test]
    fn unknown_key_is_refused_with_its_line() {
        let problems = Config::parse(&minimal("[extra]\nx = 1\n"), Path::new(".")).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("extra"), "{problems:?}");
        assert!(problems[0].key.starts_with("(line"), "{problems:?}");
    }
}

#[cfg(test)]
mod deadline_tests {
    use super::*;
    use liaison_core::Period;

    fn with(deadlines: &str) -> String {
        format!(
            "[node]\ncounty = \"610602\"\nname = \"宝塔区\"\ndata_dir = \"data\"\nsigning_key = \"k.pem\"\n\
             [tls]\ncert = \"c\"\nkey = \"k\"\nca = \"ca\"\n{deadlines}"
        )
    }

    #[test]
    fn deadline_rules_can_be_overridden_per_kind() {
        let text = with(
            "[deadlines]\ndue_soon_days = 3\nholiday_extension = false\n[deadlines.rules.contact_letter]\ndays = 7\nurgent_days = 3\n[deadlines.rules.case_notice]\nrequired = false\n",
        );
        let config = Config::parse(&text, Path::new(".")).unwrap();
        let d = &config.deadlines;
        assert_eq!(d.due_soon_ms, 3 * 24 * 3600 * 1000);
        assert!(!d.policy.holiday_extension());
        let letter = d.policy.rule(NoticeKind::ContactLetter).unwrap();
        assert_eq!(
            (letter.normal, letter.urgent),
            (Period::CalendarDays(7), Period::CalendarDays(3))
        );
        assert_eq!(d.policy.rule(NoticeKind::CaseNotice), None);
        assert!(
            d.policy.rule(NoticeKind::CertificateQuery).is_some(),
            "other kinds keep the default"
        );
    }

    #[test]
    fn bad_deadline_settings_are_reported_with_their_keys() {
        let text = with(
            "[deadlines]\ncalendars = \"/nonexistent/calendars\"\n[deadlines.rules.gossip]\ndays = 1\n[deadlines.rules.bulletin]\ndays = 10\n[deadlines.rules.fee_consultation]\nurgent_days = 2\n",
        );
        let problems = Config::parse(&text, Path::new(".")).unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        for expected in [
            "deadlines.calendars",
            "deadlines.rules.gossip",
            "deadlines.rules.bulletin",
            "deadlines.rules.fee_consultation.days",
        ] {
            assert!(
                keys.contains(&expected),
                "missing {expected} in {problems:?}"
            );
        }
    }

    #[test]
    fn calendar_directory_adds_years_and_a_bad_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let year_2027 = "year = 2027\nsource = \"test\"\n[[holidays]]\nname = \"元旦\"\noff_from = \"2027-01-01\"\n";
        std::fs::write(dir.path().join("2027.toml"), year_2027).unwrap();
        let text = with(&format!(
            "[deadlines]\ncalendars = {:?}\n",
            dir.path().display().to_string()
        ));
        let config = Config::parse(&text, Path::new(".")).unwrap();
        let years: Vec<i32> = config.deadlines.calendar.years().collect();
        assert_eq!(years, vec![2025, 2026, 2027]);

        std::fs::write(dir.path().join("2028.toml"), "year = 2028\nsource = \"x\"\n[[holidays]]\nname = \"元旦\"\noff_from = \"2027-12-31\"\n").unwrap();
        let problems = Config::parse(&text, Path::new(".")).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].key, "deadlines.calendars");
        assert!(problems[0].message.contains("2028.toml"), "{problems:?}");
    }
}

#[cfg(test)]
mod example {
    #[test]
    fn shipped_example_config_is_valid() {
        let text = include_str!("../../../deploy/examples/node.toml");
        let config = super::Config::parse(text, std::path::Path::new("/srv/liaison")).unwrap();
        assert_eq!(config.county.as_str(), "610602");
        assert!(config.signed_directory.is_some());
        assert_eq!(config.directory.peers().count(), 0);
        assert_eq!(
            config.exchange,
            super::ExchangeLimits::default(),
            "the example shows the defaults"
        );
    }

    #[test]
    fn shipped_example_works_with_hand_listed_peers_once_uncommented() {
        let text = include_str!("../../../deploy/examples/node.toml");
        let (head, rest) = text.split_once("\n[directory]").unwrap();
        let (_, commented) = rest.split_once("\n#\n").unwrap();
        let peers: Vec<&str> = commented
            .lines()
            .map(|l| l.strip_prefix("# ").unwrap_or(l))
            .collect();
        let fallback = format!(
            "{}\n{}\n",
            head.replace("# ca = \"ca.crt\"", "ca = \"ca.crt\""),
            peers.join("\n")
        );
        let config = super::Config::parse(&fallback, std::path::Path::new("/srv/liaison"))
            .unwrap_or_else(|e| panic!("{e:?}\n{fallback}"));
        assert!(config.signed_directory.is_none());
        assert_eq!(config.directory.peers().count(), 1);
    }
}
