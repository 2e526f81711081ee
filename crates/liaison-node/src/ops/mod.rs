//! The node's application layer: every action and listing an operator or auditor can ask for,
//! with domain types in and out. The gRPC admin service and the web console are two front
//! doors onto it; neither reads the store or the node's state itself.

mod due;
mod notices;
mod peers;
mod records;
mod summary;

use std::sync::Arc;

use liaison_core::{CountyCode, NoticeId};
use liaison_store::StoreError;

use crate::NodeState;

pub(crate) use due::{DueCounts, DueItem, DueList, DueQuery};
pub(crate) use liaison_core::outbox::Action;
pub(crate) use liaison_store::{IdRange, ListFilter, Side};
pub(crate) use notices::{Direction, NoticeDetail, NoticeView, PageQuery};
pub(crate) use peers::{PeerView, PeersView};
pub(crate) use records::ReportQuery;
pub(crate) use summary::{Summary, field_label, field_rank, value_label};

/// Listings return at most this many notices unless asked for fewer.
pub const DEFAULT_LIST_LIMIT: usize = 100;
/// And never more than this many.
pub const MAX_LIST_LIMIT: usize = 10_000;

/// Who is calling: an operator may do everything; an auditor may read metadata, due lists and
/// reports and export redacted bundles, but never read a payload or change anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Operator,
    Auditor,
}

/// Why an action was not done. Each front door turns these into its own answers (gRPC codes,
/// HTTP statuses); the message says what is wrong and where.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpsError {
    /// The request itself is wrong.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    /// The request is fine but the notice or node is not in a state that allows it.
    #[error("{0}")]
    NotNow(String),
    /// The caller's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Exists(String),
    /// Storage failed to write; nothing of the request was kept.
    #[error(
        "nothing was written: the node's store cannot write ({0}); free space on the node's disk \
         or repair it, then try again"
    )]
    StorageFull(String),
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for OpsError {
    fn from(e: StoreError) -> Self {
        match e {
            // Nothing of a failed write is kept; the operator can try again once the disk has room.
            StoreError::Unavailable(why) => Self::StorageFull(why),
            StoreError::NoSuchNotice(id) => Self::NotFound(format!("no outbound notice {id}")),
            e @ StoreError::NotAllowed { .. } => Self::NotNow(e.to_string()),
            e => Self::Internal(format!("storage: {e}")),
        }
    }
}

pub(crate) type Result<T> = std::result::Result<T, OpsError>;

/// The application layer of one node, for one caller.
#[derive(Debug, Clone)]
pub(crate) struct Ops {
    state: Arc<NodeState>,
    role: Role,
}

impl Ops {
    pub(crate) fn new(state: Arc<NodeState>, role: Role) -> Self {
        Self { state, role }
    }

    /// Refuses the action unless an operator asks for it.
    pub(crate) fn operator_only(&self, what: &str) -> Result<()> {
        match self.role {
            Role::Operator => Ok(()),
            Role::Auditor => Err(OpsError::Forbidden(format!("auditors may not {what}"))),
        }
    }

    /// The directory name of a peer, or "" for a county not in the directory.
    fn peer_name(&self, county: CountyCode) -> String {
        self.state
            .directory
            .current()
            .peers
            .get(county)
            .map(|p| p.name.clone())
            .unwrap_or_default()
    }

    /// The county this node serves.
    pub(crate) fn county(&self) -> CountyCode {
        self.state.config.county
    }

    /// The counties of the directory, in its order, with their names.
    pub(crate) fn directory(&self) -> Vec<(CountyCode, String)> {
        self.state
            .directory
            .current()
            .peers
            .peers()
            .map(|p| (p.county, p.name.clone()))
            .collect()
    }

    /// The time on this node's clock (Unix ms).
    pub(crate) fn now_ms(&self) -> i64 {
        self.state.clock.now_ms()
    }
}

/// Parses a notice id given by a caller.
pub(crate) fn parse_id(text: &str) -> Result<NoticeId> {
    NoticeId::parse(text.trim()).map_err(|e| OpsError::Invalid(format!("notice id: {e}")))
}

/// Parses an optional county code given by a caller; "" is none.
pub(crate) fn parse_peer(text: &str) -> Result<Option<CountyCode>> {
    match text.trim() {
        "" => Ok(None),
        p => CountyCode::parse(p)
            .map(Some)
            .map_err(|e| OpsError::Invalid(format!("peer: {e}"))),
    }
}

/// The number of notices a listing returns for an asked `limit` (0: the default).
pub(crate) fn list_limit(limit: usize) -> usize {
    match limit {
        0 => DEFAULT_LIST_LIMIT,
        n => n.min(MAX_LIST_LIMIT),
    }
}
