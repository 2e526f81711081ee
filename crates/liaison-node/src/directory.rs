//! The federation directory at run time: the peers this node knows, loaded at start (from
//! `[[peers]]`, or from the city's signed directory and this node's newest accepted copy), and
//! replaced without a restart by any newer version the city signed, whether it comes from the
//! configured file, from a peer (`Exchange.GetDirectory`) or from an operator
//! (`Admin.PublishDirectory`).

use std::collections::{BTreeMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use liaison_core::directory::{DirectoryError, SignedDirectory};
use liaison_core::trust;
use liaison_core::{CountyCode, DuePolicy};
use liaison_proto::v1 as pb;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::config::{Config, DirectorySource};
use crate::{NodeError, NodeState};

/// The name of this node's copy of the newest directory it accepted, in its data directory.
pub const DIRECTORY_COPY: &str = "directory.note";

/// One version of the directory as this node uses it.
#[derive(Debug)]
pub(crate) struct DirectoryVersion {
    /// The peers as this county sees them.
    pub(crate) peers: trust::Directory,
    /// The city's signed version they come from; `None` for peers listed by hand.
    pub(crate) signed: Option<SignedDirectory>,
}

impl DirectoryVersion {
    /// The serial of the signed version, if any.
    pub(crate) fn serial(&self) -> Option<u64> {
        self.signed.as_ref().map(|s| s.serial)
    }

    /// The deadline policy the city's directory sets for `county`, if it sets one.
    pub(crate) fn policy_of(&self, county: CountyCode) -> Option<&DuePolicy> {
        self.signed
            .as_ref()?
            .federation
            .county(county)?
            .policy
            .as_ref()
    }
}

/// The directory a running node uses, and what it refused.
#[derive(Debug)]
pub(crate) struct DirectoryState {
    current: RwLock<Arc<DirectoryVersion>>,
    /// Serializes accepting, so that two newer versions offered at once are written in order.
    accepting: Mutex<()>,
    /// Digests of the refusals already logged, so that each is logged once.
    logged: Mutex<HashSet<u64>>,
    /// Versions refused since the node started, by [`Refusal::reason`].
    refusals: Mutex<BTreeMap<&'static str, u64>>,
}

impl DirectoryState {
    pub(crate) fn new(version: DirectoryVersion) -> Self {
        Self {
            current: RwLock::new(Arc::new(version)),
            accepting: Mutex::new(()),
            logged: Mutex::new(HashSet::new()),
            refusals: Mutex::default(),
        }
    }

    /// The version in use.
    pub(crate) fn current(&self) -> Arc<DirectoryVersion> {
        match self.current.read() {
            Ok(v) => v.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Versions refused since the node started, by reason.
    pub(crate) fn refusals(&self) -> BTreeMap<&'static str, u64> {
        match self.refusals.lock() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, version: DirectoryVersion) {
        let mut current = match self.current.write() {
            Ok(v) => v,
            Err(poisoned) => poisoned.into_inner(),
        };
        *current = Arc::new(version);
    }
}

/// Why a directory offered to this node was not taken.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refusal {
    #[error(
        "this node lists its peers by hand ([[peers]] in node.toml), not from a signed directory"
    )]
    NotConfigured,
    #[error("{0}")]
    Invalid(#[from] DirectoryError),
    #[error(
        "serial {offered} is not newer than serial {have}, which this node already has; the city signs every change with a higher serial"
    )]
    NotNewer { offered: u64, have: u64 },
    #[error("cannot keep a copy of it in {path}: {error}")]
    Storage { path: String, error: std::io::Error },
}

impl Refusal {
    /// A short name of the reason, for the metric's label.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Self::NotConfigured => "not_configured",
            Self::Invalid(DirectoryError::Invalid(_)) => "invalid",
            Self::Invalid(_) => "signature",
            Self::NotNewer { .. } => "not_newer",
            Self::Storage { .. } => "storage",
        }
    }
}

/// What became of a directory offered to this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offered {
    /// A newer version, now in use.
    Accepted(u64),
    /// The very version in use.
    AlreadyHave(u64),
}

fn problem(file: &Path, what: impl std::fmt::Display) -> NodeError {
    NodeError::Directory(format!("{}: {what}", file.display()))
}

/// The directory a node starts with: its `[[peers]]`, or the highest serial of the configured
/// signed file and the node's own copy. A file that does not verify is an error naming it.
pub(crate) fn load_at_start(config: &Config) -> Result<DirectoryVersion, NodeError> {
    let Some(source) = &config.signed_directory else {
        return Ok(DirectoryVersion {
            peers: config.directory.clone(),
            signed: None,
        });
    };
    let open = |file: &Path, note: &str| {
        SignedDirectory::open(note, &source.city_key).map_err(|e| problem(file, e))
    };
    let configured = std::fs::read_to_string(&source.file).map_err(|e| {
        problem(
            &source.file,
            format!("cannot read the signed directory: {e}"),
        )
    })?;
    let mut best = open(&source.file, &configured)?;
    let mut best_file = source.file.clone();
    let copy = copy_path(config);
    match std::fs::read_to_string(&copy) {
        Ok(note) => {
            // This node wrote it; one that no longer verifies (another city key configured) stops
            // the start rather than being overwritten unseen.
            let kept = open(&copy, &note)?;
            if kept.serial > best.serial {
                best = kept;
                best_file.clone_from(&copy);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(problem(&copy, format!("cannot read it: {e}"))),
    }
    if best.federation.county(config.county).is_none() {
        return Err(problem(
            &best_file,
            format!(
                "the directory (serial {}) does not list this node's county {}",
                best.serial, config.county
            ),
        ));
    }
    std::fs::create_dir_all(&config.data_dir)
        .and_then(|()| write_atomically(&copy, &best.note))
        .map_err(|e| problem(&copy, format!("cannot write it: {e}")))?;
    info!(serial = best.serial, city = %best.federation.city, "using the city's signed directory");
    Ok(DirectoryVersion {
        peers: best.to_trust_directory(config.county),
        signed: Some(best),
    })
}

fn copy_path(config: &Config) -> PathBuf {
    config.data_dir.join(DIRECTORY_COPY)
}

/// Writes `text` to `path` so that a power cut leaves either the old file or the new one:
/// a temporary file, fsynced, renamed over `path`, and the directory fsynced.
pub(crate) fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Takes `note` if it is a version the city signed with a higher serial than the one in use:
/// keeps a copy, puts it in use and starts delivery to counties new in it.
pub(crate) fn offer(state: &Arc<NodeState>, note: &str) -> Result<Offered, Refusal> {
    let source = state
        .config
        .signed_directory
        .as_ref()
        .ok_or(Refusal::NotConfigured)?;
    let offered = SignedDirectory::open(note, &source.city_key)?;
    let _accepting = match state.directory.accepting.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    let have = state.directory.current().serial().unwrap_or(0);
    if offered.serial <= have {
        let same = state
            .directory
            .current()
            .signed
            .as_ref()
            .is_some_and(|s| s.note == offered.note);
        return if same {
            Ok(Offered::AlreadyHave(have))
        } else {
            Err(Refusal::NotNewer {
                offered: offered.serial,
                have,
            })
        };
    }
    let copy = copy_path(&state.config);
    write_atomically(&copy, &offered.note).map_err(|error| Refusal::Storage {
        path: copy.display().to_string(),
        error,
    })?;
    let serial = offered.serial;
    if offered.federation.county(state.config.county).is_none() {
        warn!(
            serial,
            "the new directory no longer lists this node's county; its peers are as it says"
        );
    }
    state.directory.replace(DirectoryVersion {
        peers: offered.to_trust_directory(state.config.county),
        signed: Some(offered),
    });
    info!(serial, "now using a newer directory the city signed");
    state.start_delivery_workers();
    Ok(Offered::Accepted(serial))
}

/// Counts a refusal, and logs it unless this same version was refused for the same reason before.
pub(crate) fn note_refusal(state: &NodeState, note: &str, from: &str, why: &Refusal) {
    match state.directory.refusals.lock() {
        Ok(mut r) => *r.entry(why.reason()).or_default() += 1,
        Err(poisoned) => *poisoned.into_inner().entry(why.reason()).or_default() += 1,
    }
    let mut hasher = DefaultHasher::new();
    (note, why.to_string()).hash(&mut hasher);
    let first = match state.directory.logged.lock() {
        Ok(mut logged) => logged.insert(hasher.finish()),
        Err(poisoned) => poisoned.into_inner().insert(hasher.finish()),
    };
    if first {
        warn!(from, reason = %why, "refused a federation directory");
    }
}

/// Offers `note`, which came `from` somewhere, logging what became of it.
fn offer_logged(state: &Arc<NodeState>, note: &str, from: &str, counts_if_older: bool) {
    match offer(state, note) {
        Ok(Offered::Accepted(serial)) => info!(from, serial, "accepted a newer directory"),
        Ok(Offered::AlreadyHave(_)) => {}
        // The configured file lags behind a version that came from a peer: nothing wrong.
        Err(Refusal::NotNewer { .. }) if !counts_if_older => {}
        Err(why) => note_refusal(state, note, from, &why),
    }
}

/// Every `refresh`: re-reads the configured file, then asks one peer in turn for a newer version.
pub(crate) async fn run_refresh(state: Arc<NodeState>, mut shutdown: watch::Receiver<bool>) {
    let Some(source) = state.config.signed_directory.clone() else {
        return;
    };
    let mut turn = 0usize;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(source.refresh) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        refresh_once(&state, &source, turn).await;
        turn = turn.wrapping_add(1);
    }
}

async fn refresh_once(state: &Arc<NodeState>, source: &DirectorySource, turn: usize) {
    let file = source.file.display().to_string();
    match tokio::fs::read_to_string(&source.file).await {
        Ok(note) => offer_logged(state, &note, &file, false),
        Err(e) => debug!(file, error = %e, "cannot re-read the signed directory file"),
    }
    let current = state.directory.current();
    let peers: Vec<&trust::Peer> = current.peers.peers().collect();
    if peers.is_empty() {
        return;
    }
    let peer = peers[turn % peers.len()];
    let have = current.serial().unwrap_or(0);
    match fetch(state, peer, have).await {
        Ok(Some(note)) => offer_logged(state, &note, &format!("peer {}", peer.county), true),
        Ok(None) => {}
        Err(e) => {
            debug!(peer = %peer.county, error = %e, "cannot ask the peer for a newer directory")
        }
    }
}

/// How long one `GetDirectory` call may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Asks `peer` for a directory newer than serial `have`.
async fn fetch(state: &NodeState, peer: &trust::Peer, have: u64) -> Result<Option<String>, String> {
    let channel = crate::delivery::channel(state, peer)?;
    let mut client = pb::exchange_client::ExchangeClient::new(channel)
        .max_decoding_message_size(crate::delivery::MAX_MESSAGE_BYTES);
    let call = client.get_directory(pb::GetDirectoryRequest { have_serial: have });
    let answer = tokio::time::timeout(FETCH_TIMEOUT, call)
        .await
        .map_err(|_| "no answer in time".to_owned())?
        .map_err(|status| status.message().to_owned())?
        .into_inner();
    Ok((!answer.signed_directory.is_empty()).then_some(answer.signed_directory))
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use liaison_core::NodeKey;
    use liaison_core::directory::{
        CountyDoc, DirectoryDoc, KeyDoc, city_verifier_key, sign_directory,
    };

    use super::*;

    /// 2026-03-02 09:00 CST.
    const MARCH: i64 = 1_772_413_200_000;

    fn city() -> NodeKey {
        NodeKey::new(SigningKey::from_bytes(&[1; 32]))
    }

    fn draft(codes: &[&str]) -> DirectoryDoc {
        let mut doc = DirectoryDoc::new("610600", "延安市");
        for (i, code) in codes.iter().enumerate() {
            let key = NodeKey::new(SigningKey::from_bytes(&[i as u8 + 2; 32]));
            doc.counties.push(CountyDoc {
                code: (*code).into(),
                name: format!("county {code}"),
                endpoint: "https://127.0.0.1:7443".into(),
                tls_ca: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".into(),
                keys: vec![KeyDoc {
                    public_key: hex::encode(key.verifying_key().as_bytes()),
                    valid_from: "2026-01-01T00:00:00+08:00".into(),
                    valid_until: None,
                }],
                deadlines: None,
            });
        }
        doc
    }

    fn config(dir: &Path) -> Config {
        let text = format!(
            "[node]\ncounty = \"610602\"\nname = \"宝塔区\"\ndata_dir = \"data\"\nsigning_key = \"k.pem\"\n\
             [tls]\ncert = \"c\"\nkey = \"k\"\n\
             [directory]\nfile = \"directory.note\"\ncity_key = \"{}\"\n",
            city_verifier_key("610600", &city()).unwrap()
        );
        Config::parse(&text, dir).unwrap()
    }

    #[test]
    fn a_node_starts_from_the_higher_serial_of_the_file_and_its_own_copy() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        let mut doc = draft(&["610602", "610603"]);
        let first = sign_directory(&mut doc, &city(), MARCH).unwrap();
        let second = sign_directory(&mut doc, &city(), MARCH + 1).unwrap();
        std::fs::write(dir.path().join("directory.note"), &first.note).unwrap();
        let version = load_at_start(&config).unwrap();
        assert_eq!(version.serial(), Some(1));
        assert_eq!(version.peers.peers().count(), 1, "the other county");
        let copy = dir.path().join("data").join(DIRECTORY_COPY);
        assert_eq!(std::fs::read_to_string(&copy).unwrap(), first.note);

        std::fs::write(&copy, &second.note).unwrap();
        assert_eq!(load_at_start(&config).unwrap().serial(), Some(2));
        std::fs::write(&copy, second.note.replace("610603", "610604")).unwrap();
        let error = load_at_start(&config).unwrap_err().to_string();
        assert!(
            error.starts_with(&copy.display().to_string()) && error.contains("does not verify"),
            "{error}"
        );
    }

    #[test]
    fn a_directory_without_the_nodes_county_or_without_a_file_stops_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path());
        let error = load_at_start(&config).unwrap_err().to_string();
        assert!(
            error.contains("cannot read the signed directory"),
            "{error}"
        );
        let mut doc = draft(&["610603"]);
        let note = sign_directory(&mut doc, &city(), MARCH).unwrap().note;
        std::fs::write(dir.path().join("directory.note"), note).unwrap();
        let error = load_at_start(&config).unwrap_err().to_string();
        assert!(
            error.contains("does not list this node's county 610602"),
            "{error}"
        );
    }
}
