//! The liaison daemon: the peer-facing exchange service, the operator's admin service, and one
//! delivery worker per peer, over one durable store.
//!
//! [`Node::start`] checks everything it needs (keys, certificates, store) before it serves;
//! [`Node::run`] serves on listeners the caller bound, until the `shutdown` future completes, so
//! that tests and the demo can start nodes on port 0 and stop them. Besides the `Admin` service, the
//! admin listener serves gRPC health (`grpc.health.v1.Health`), gRPC reflection and Prometheus
//! metrics (`GET /metrics`, HTTP/1.1 or HTTP/2), none of which needs a token, and the web console
//! (`/console/`, see [`console`]), which needs a sign-in.

mod admin;
mod audit;
pub mod clock;
pub mod config;
pub mod console;
mod cosigning;
mod delivery;
pub mod directory;
mod exchange;
pub mod federation;
mod metrics;
mod ops;
mod peer_health;
mod peer_listener;
pub mod pki;
mod refusal_log;
mod report;
mod tracker;
mod witness;

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use ed25519_dalek::VerifyingKey;
use liaison_core::checkpoint::{Checkpoint, NoteSigner, origin_for, sign_checkpoint};
use liaison_core::notice::Outgoing;
use liaison_core::{CountyCode, DuePolicy, NodeKey, NoticeBody, NoticeId, SignedNotice};
use liaison_proto::v1 as pb;
use liaison_store::OutboundRecord;
use liaison_store::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tracing::{error, info, info_span, warn};

use clock::Clock;
use config::Config;
use delivery::PeerSignal;
pub use ops::{DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT, Role};

/// How long a stopping node lets calls in progress finish.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Why a node could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
    #[error("cannot open the store in {path}: {source}")]
    Store {
        path: String,
        source: liaison_store::StoreError,
    },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot set up gRPC reflection: {0}")]
    Reflection(String),
    #[error("{}", .0.join("\n"))]
    Several(Vec<String>),
    #[error("stopping: {0}")]
    Close(liaison_store::StoreError),
    #[error("this county cannot sign checkpoints of its log: {0}")]
    CheckpointKey(liaison_core::checkpoint::NoteKeyError),
    /// The signed directory cannot be used: the file and what is wrong.
    #[error("{0}")]
    Directory(String),
    #[error("cannot set up TLS for the exchange service: {0}")]
    ExchangeTls(pki::PkiError),
    #[error("{service} service failed: {source}")]
    Serve {
        service: &'static str,
        source: tonic::transport::Error,
    },
}

/// What every part of a running node shares.
#[derive(Debug)]
pub(crate) struct NodeState {
    pub(crate) config: Config,
    pub(crate) key: NodeKey,
    pub(crate) tls: pki::TlsFiles,
    pub(crate) store: Store,
    pub(crate) clock: Arc<dyn Clock>,
    /// The peers, from `[[peers]]` or the city's signed directory, which may change while the
    /// node runs.
    pub(crate) directory: directory::DirectoryState,
    /// One delivery worker's signal per peer that has a worker.
    signals: Mutex<HashMap<CountyCode, Arc<PeerSignal>>>,
    /// The node's background tasks, drained at shutdown.
    workers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Becomes true when the node stops.
    stop: watch::Receiver<bool>,
    pub(crate) peer_health: peer_health::PeerHealth,
    /// The public half of every key this node has signed with, oldest first, the key in use
    /// last: read from the store's key history at start.
    pub(crate) own_keys: Vec<VerifyingKey>,
    pub(crate) metrics: metrics::Metrics,
    pub(crate) console: console::Sessions,
    /// Held while a peer's checkpoint is judged and kept, so that the receipts this node gets
    /// and the cosignatures it is asked for judge one peer's log one at a time.
    pub(crate) witness_lock: tokio::sync::Mutex<()>,
}

/// Why this node could not sign a checkpoint of its log.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CheckpointSignError {
    #[error("cannot sign a checkpoint: the county's key name: {0}")]
    KeyName(#[from] liaison_core::checkpoint::NoteKeyError),
    #[error("cannot sign a checkpoint: {0}")]
    Checkpoint(#[from] liaison_core::checkpoint::CheckpointError),
}

/// Why a notice could not be put in the outbox.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    #[error("{0}")]
    NotAllowed(String),
    #[error("storage: {0}")]
    Storage(#[from] liaison_store::StoreError),
    #[error("{0}")]
    Random(String),
}

impl NodeState {
    /// The reply-deadline policy this county applies: the one the city's directory sets for it
    /// when it sets one (the newest version in use), else node.toml's `[deadlines]`.
    pub(crate) fn policy(&self) -> DuePolicy {
        self.directory
            .current()
            .policy_of(self.config.county)
            .unwrap_or(&self.config.deadlines.policy)
            .clone()
    }

    /// Signs a notice to `recipient` and puts it in the outbox; returns once it is durable.
    /// The caller has checked the body and the reply reference. With a `client_key` that an
    /// earlier notice was queued with, that notice is returned and nothing new is signed; the
    /// flag says whether the notice is new.
    pub(crate) async fn send_notice(
        &self,
        recipient: CountyCode,
        urgent: bool,
        in_reply_to: Option<NoticeId>,
        body: &NoticeBody,
        client_key: Option<&str>,
    ) -> Result<(OutboundRecord, bool), SendError> {
        if let Some(key) = client_key
            && let Some(existing) = self.store.outbound_by_client_key(key)?
        {
            return Ok((existing, false));
        }
        let kind = body.kind();
        let directory = self.directory.current();
        let peer = directory.peers.get(recipient).ok_or_else(|| {
            SendError::NotAllowed(format!(
                "{recipient} is not a peer in this node's directory"
            ))
        })?;
        let now = self.clock.now_ms();
        peer.may_send(kind, now)
            .map_err(|e| SendError::NotAllowed(e.to_string()))?;
        // A reply older than this node's own receipt of the notice it answers would be refused:
        // this node's clock was set back since.
        if let Some(original) = in_reply_to
            && let Some(received) = self.store.inbound(&original)?
            && now < received.received_at_ms
        {
            return Err(SendError::NotAllowed(format!(
                "this node's clock reads {}, before the notice being answered was received at {}: \
                 the clock was set back; set it right (NTP) and reply again",
                liaison_core::clock::format_cst(now),
                liaison_core::clock::format_cst(received.received_at_ms)
            )));
        }
        let mut random = [0u8; 10];
        getrandom::getrandom(&mut random)
            .map_err(|e| SendError::Random(format!("no randomness: {e}")))?;
        let id = NoticeId::new(now.max(0) as u64, random);
        let notice = SignedNotice::sign(
            &self.key,
            Outgoing {
                id,
                sender: self.config.county,
                recipient,
                kind,
                urgent,
                issued_at_ms: now,
                in_reply_to,
            },
            body.encode(),
        );
        let record = OutboundRecord::queued(id, recipient, kind, urgent, now, in_reply_to);
        let enqueued = self
            .store
            .enqueue(
                &record,
                &notice.envelope_bytes(),
                notice.content_hash(),
                client_key,
            )
            .await?;
        // A concurrent send with the same key got there first: its notice stands.
        if let liaison_store::Enqueued::Existing(existing) = enqueued {
            return Ok((existing, false));
        }
        info_span!("notice", notice_id = %id)
            .in_scope(|| info!(peer = %recipient, kind = kind.name(), "queued a notice"));
        self.wake(recipient, false);
        Ok((record, true))
    }

    /// This node's signed checkpoint (C2SP signed note) of its log at `head`.
    pub(crate) fn sign_checkpoint(
        &self,
        head: liaison_store::LogHead,
    ) -> Result<String, CheckpointSignError> {
        let county = self.config.county;
        let checkpoint = Checkpoint::new(origin_for(county), head.size, head.root);
        let signer = NoteSigner::for_county(county, &self.key)?;
        Ok(sign_checkpoint(&checkpoint, &signer)?)
    }

    /// Wakes the delivery worker of `peer`; `retry_now` cuts its back-off short.
    pub(crate) fn wake(&self, peer: CountyCode, retry_now: bool) {
        if let Some(signal) = lock(&self.signals).get(&peer) {
            if retry_now {
                signal.retry_now.store(true, Ordering::SeqCst);
            }
            signal.notify.notify_one();
        }
    }
}

impl NodeState {
    /// Starts a delivery worker for every peer of the directory that has none yet: at start,
    /// and for counties a newer directory adds.
    pub(crate) fn start_delivery_workers(self: &Arc<Self>) {
        let directory = self.directory.current();
        let mut signals = lock(&self.signals);
        for peer in directory.peers.peers() {
            if signals.contains_key(&peer.county) {
                continue;
            }
            let signal = Arc::new(PeerSignal::default());
            signals.insert(peer.county, signal.clone());
            self.spawn(delivery::run_peer(
                self.clone(),
                peer.county,
                signal,
                self.stop.clone(),
            ));
        }
    }

    /// Runs a background task that the node drains when it stops.
    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        lock(&self.workers).push(tokio::spawn(task));
    }
}

/// Locks a mutex, whether or not a thread panicked while holding it.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The keys of `history`, each once, oldest first, then `current` (the key in use).
fn own_key_list(history: &[liaison_store::OwnKey], current: VerifyingKey) -> Vec<VerifyingKey> {
    let mut keys: Vec<VerifyingKey> = Vec::new();
    // A node may switch back to a key it used before: each key is listed once.
    for key in history
        .iter()
        .filter_map(|k| VerifyingKey::from_bytes(&k.public_key).ok())
    {
        if key != current && !keys.contains(&key) {
            keys.push(key);
        }
    }
    keys.push(current);
    keys
}

/// A node that has loaded its keys, certificates and store, ready to serve.
#[derive(Debug)]
pub struct Node {
    state: Arc<NodeState>,
    stop: watch::Sender<bool>,
    admin_token: String,
    auditor_token: String,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> NodeError + '_ {
    move |source| NodeError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Reads the admin token, making a new random one (readable by the owner only) when there is none.
/// An empty or blank file counts as none, so the token can never be empty.
fn read_or_make_token(path: &Path) -> Result<String, NodeError> {
    match std::fs::read_to_string(path) {
        Ok(token) if !token.trim().is_empty() => return Ok(token.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(path)(e)),
    }
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| io_error(path)(std::io::Error::other(e.to_string())))?;
    let token = hex::encode(bytes);
    pki::write_private(path, &token).map_err(io_error(path))?;
    Ok(token)
}

impl Node {
    /// Loads what the node needs and opens its store. Fails, naming the file, if anything is missing.
    pub fn start(config: Config, clock: Arc<dyn Clock>) -> Result<Self, NodeError> {
        // Both the signing key and the TLS files are checked before either is reported, so that
        // an administrator sees every missing or broken file at once.
        let key = std::fs::read_to_string(&config.signing_key)
            .map_err(io_error(&config.signing_key))
            .and_then(|text| {
                Ok(NodeKey::new(pki::signing_key_from_pem(
                    &text,
                    &config.signing_key,
                )?))
            });
        let directory = directory::load_at_start(&config)?;
        // Without tls.ca, peers' certificates must chain to the CAs the directory lists; a CA
        // that a newer directory adds is trusted from the next start.
        let tls = match (&config.tls_ca, &directory.signed, &config.signed_directory) {
            (Some(ca), _, _) => {
                pki::load_tls_files(&config.tls_cert, &config.tls_key, ca).map_err(NodeError::from)
            }
            (None, Some(signed), Some(source)) => pki::load_tls_files_with_ca(
                &config.tls_cert,
                &config.tls_key,
                signed.federation.tls_roots_pem(),
                &source.file,
            )
            .map_err(NodeError::from),
            _ => Err(NodeError::Directory(
                "tls.ca is required when the peers are listed by hand".into(),
            )),
        };
        let (key, tls) = match (key, tls) {
            (Ok(key), Ok(tls)) => (key, tls),
            (Err(e), Ok(_)) | (Ok(_), Err(e)) => return Err(e),
            (Err(a), Err(b)) => return Err(NodeError::Several(vec![a.to_string(), b.to_string()])),
        };
        NoteSigner::for_county(config.county, &key).map_err(NodeError::CheckpointKey)?;
        std::fs::create_dir_all(&config.data_dir).map_err(io_error(&config.data_dir))?;
        let store_dir = config.data_dir.join("store");
        let store = Store::open(&store_dir).map_err(|source| NodeError::Store {
            path: store_dir.display().to_string(),
            source,
        })?;
        let own_keys = store
            .own_keys()
            .map(|history| own_key_list(&history, key.verifying_key()))
            .map_err(|source| NodeError::Store {
                path: store_dir.display().to_string(),
                source,
            })?;
        let admin_token = read_or_make_token(&config.admin_token_path())?;
        let auditor_token = read_or_make_token(&config.auditor_token_path())?;
        let metrics =
            metrics::Metrics::new(directory.peers.peers().map(|p| p.county), &tls.cert_pem);
        let (stop, stop_rx) = watch::channel(false);
        let state = NodeState {
            config,
            key,
            tls,
            store,
            clock,
            directory: directory::DirectoryState::new(directory),
            signals: Mutex::default(),
            workers: Mutex::default(),
            stop: stop_rx,
            peer_health: peer_health::PeerHealth::default(),
            own_keys,
            metrics,
            console: console::Sessions::default(),
            witness_lock: tokio::sync::Mutex::new(()),
        };
        Ok(Self {
            state: Arc::new(state),
            stop,
            admin_token,
            auditor_token,
        })
    }

    /// Closes a node that was started but is not to run (a stop was requested while it
    /// started): its store's last write is made and the store closed.
    pub async fn close(self) -> Result<(), NodeError> {
        self.state.store.close().await.map_err(NodeError::Close)
    }

    /// The node's county.
    pub fn county(&self) -> CountyCode {
        self.state.config.county
    }

    /// The bearer token that admin calls must carry.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The bearer token of the auditor role.
    pub fn auditor_token(&self) -> &str {
        &self.auditor_token
    }

    /// Serves the exchange service on `exchange` and the admin listener (the `Admin` service,
    /// gRPC health and reflection, and `GET /metrics`) on `admin`, and delivers the outbox, until
    /// `shutdown` completes. Then it stops taking new work and lets work in progress finish for at
    /// most [`SHUTDOWN_GRACE`]: calls being served, and delivery calls already sent (whose receipts
    /// it records).
    pub async fn run(
        self,
        exchange: TcpListener,
        admin: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), NodeError> {
        let state = self.state;
        // The key history lets what earlier keys signed keep verifying after a rotation; a node
        // that cannot write it still serves, and shows the current key from memory.
        let public_key = state.key.verifying_key().to_bytes();
        match state
            .store
            .use_own_key(public_key, state.clock.now_ms())
            .await
        {
            Ok(true) => {
                info!(key_id = %state.key.key_id(), "signing with a key new to this node's key history")
            }
            Ok(false) => {}
            Err(e) => warn!(error = %e, "cannot record the signing key in the key history"),
        }
        let (stop_tx, stop_rx) = (self.stop, state.stop.clone());
        state.spawn(tracker::run(state.clone(), stop_rx.clone()));
        state.spawn(directory::run_refresh(state.clone(), stop_rx.clone()));
        state.start_delivery_workers();
        let exchange_service =
            pb::exchange_server::ExchangeServer::new(exchange::ExchangeService::new(state.clone()))
                .max_decoding_message_size(state.config.exchange.max_request_bytes)
                .max_encoding_message_size(delivery::MAX_MESSAGE_BYTES);
        let admin_addr = admin.local_addr().map_err(|source| NodeError::Io {
            path: "the admin listener's address".into(),
            source,
        })?;
        let admin_routes = admin_routes(&state, admin_addr, self.admin_token, self.auditor_token)?;
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_service_status(
                pb::admin_server::SERVICE_NAME,
                tonic_health::ServingStatus::Serving,
            )
            .await;
        let admin_routes = admin_routes.add_service(health_service);
        info!(
            county = %state.config.county,
            exchange = ?exchange.local_addr().ok(),
            admin = ?admin.local_addr().ok(),
            "node serving"
        );
        let mut stop_exchange = stop_rx.clone();
        let mut stop_admin = stop_rx.clone();
        let limits = state.config.exchange;
        let exchange_tls = state
            .tls
            .rustls_server_config()
            .map_err(NodeError::ExchangeTls)?;
        let exchange_server = Server::builder()
            .initial_stream_window_size(delivery::STREAM_WINDOW)
            .initial_connection_window_size(delivery::CONNECTION_WINDOW)
            .max_concurrent_streams(limits.max_streams_per_connection)
            .concurrency_limit_per_connection(limits.max_streams_per_connection as usize)
            .add_service(exchange_service)
            .serve_with_incoming_shutdown(
                peer_listener::incoming(exchange, exchange_tls, state.clone(), stop_rx.clone()),
                async move {
                    let _ = stop_exchange.changed().await;
                },
            );
        // HTTP/1.1 too, for `GET /metrics` from any scraper; gRPC still needs HTTP/2.
        let admin_server = Server::builder()
            .accept_http1(true)
            .add_routes(admin_routes)
            .serve_with_incoming_shutdown(
                TcpIncoming::from(admin).with_nodelay(Some(true)),
                async move {
                    let _ = stop_admin.changed().await;
                },
            );
        let exchange_task = tokio::spawn(exchange_server);
        let admin_task = tokio::spawn(admin_server);
        // Should this future be dropped instead of shut down, its tasks go with it.
        let _guard = AbortOnDrop(
            vec![exchange_task.abort_handle(), admin_task.abort_handle()],
            state.clone(),
        );
        shutdown.await;
        let stopping = tokio::time::Instant::now();
        let grace_ends = stopping + SHUTDOWN_GRACE;
        info!(
            county = %state.config.county,
            grace_secs = SHUTDOWN_GRACE.as_secs(),
            "shutting down: no new work; letting work in progress finish"
        );
        for service in ["", pb::admin_server::SERVICE_NAME] {
            health
                .set_service_status(service, tonic_health::ServingStatus::NotServing)
                .await;
        }
        let _ = stop_tx.send(true);
        // Workers started while these finish (a directory accepted at the last moment) see the
        // stop at once.
        let workers = std::mem::take(&mut *lock(&state.workers));
        for mut worker in workers {
            if tokio::time::timeout_at(grace_ends, &mut worker)
                .await
                .is_err()
            {
                warn!("a worker was still busy after the grace period; stopping it");
                worker.abort();
            }
        }
        let mut result = Ok(());
        for (service, mut task) in [("exchange", exchange_task), ("admin", admin_task)] {
            // Calls in progress may finish; a connection that sends nothing is not waited for.
            let finished = tokio::time::timeout_at(grace_ends, &mut task).await;
            let Ok(finished) = finished else {
                warn!(
                    service,
                    "connections still open after the grace period; closing them"
                );
                task.abort();
                continue;
            };
            match finished {
                Ok(Ok(())) => {}
                Ok(Err(source)) => result = Err(NodeError::Serve { service, source }),
                Err(e) => warn!(service, error = %e, "server task ended abnormally"),
            }
        }
        if let Err(e) = state.store.close().await {
            error!(error = %e, "the store's final write failed: what was acknowledged is on disk, but the log head record may be behind; the next start checks the store");
            if result.is_ok() {
                result = Err(NodeError::Close(e));
            }
        }
        match &result {
            Ok(()) => info!(
                county = %state.config.county,
                took_ms = stopping.elapsed().as_millis() as u64,
                "stopped; everything acknowledged is on disk"
            ),
            Err(e) => warn!(county = %state.config.county, error = %e, "stopped with an error"),
        }
        result
    }
}

/// What the admin listener serves besides gRPC health: the `Admin` service behind the token check,
/// gRPC reflection (v1 and v1alpha) of the liaison and health protocols, and `GET /metrics`.
fn admin_routes(
    state: &Arc<NodeState>,
    admin_addr: std::net::SocketAddr,
    admin_token: String,
    auditor_token: String,
) -> Result<Routes, NodeError> {
    let admin_service = pb::admin_server::AdminServer::with_interceptor(
        admin::AdminService {
            state: state.clone(),
        },
        admin::TokenCheck {
            operator: Arc::new(admin_token),
            auditor: Arc::new(auditor_token),
        },
    );
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(liaison_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name(pb::admin_server::SERVICE_NAME)
            .with_service_name("grpc.health.v1.Health")
            .with_service_name("grpc.reflection.v1.ServerReflection")
            .with_service_name("grpc.reflection.v1alpha.ServerReflection")
    };
    let reflection_error =
        |e: tonic_reflection::server::Error| NodeError::Reflection(e.to_string());
    let reflection_v1 = reflection().build_v1().map_err(reflection_error)?;
    let reflection_v1alpha = reflection().build_v1alpha().map_err(reflection_error)?;
    let metrics_state = state.clone();
    let router = Routes::new(admin_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .into_axum_router()
        .route(
            "/metrics",
            axum::routing::get(move || metrics::serve(metrics_state.clone())),
        )
        .merge(console::router(state.clone(), admin_addr));
    Ok(Routes::from(router))
}

/// Aborts tasks, and the node's workers, when dropped.
struct AbortOnDrop(Vec<tokio::task::AbortHandle>, Arc<NodeState>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
        for worker in lock(&self.1.workers).iter() {
            worker.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_admin_token_file_is_replaced_by_a_new_token() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin.token");
        std::fs::write(&path, "\n").unwrap();
        let token = read_or_make_token(&path).unwrap();
        assert_eq!(token.len(), 64);
        assert_eq!(
            read_or_make_token(&path).unwrap(),
            token,
            "the token is kept once made"
        );
    }
}
