//! The store's tables and indexes, and the migrations that bring an older store up to date.
//!
//! `PRAGMA user_version` holds the number of migrations applied. Each migration runs in the
//! same transaction as the version bump, so a store is always at exactly one version.

use rusqlite::Connection;

use crate::{Result, StoreError};

/// The migrations, in order; the store's version is how many of them it has applied.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r#"
CREATE TABLE outbound (
    id BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    recipient TEXT NOT NULL,
    kind TEXT NOT NULL,
    urgent INTEGER NOT NULL,
    issued_at_ms INTEGER NOT NULL,
    in_reply_to BLOB,
    status TEXT NOT NULL
        CHECK (status IN ('queued', 'in_flight', 'delivered', 'rejected', 'cancelled')),
    attempts INTEGER NOT NULL,
    last_error TEXT,
    next_attempt_at_ms INTEGER NOT NULL,
    receipt_at_ms INTEGER,
    reject_code INTEGER,
    reject_reason TEXT,
    reply_due_at_ms INTEGER,
    answered_at_ms INTEGER,
    flagged TEXT,
    reminded_at_ms INTEGER,
    client_key TEXT UNIQUE
);
CREATE INDEX outbound_by_recipient ON outbound (recipient, id);
CREATE INDEX outbound_by_status ON outbound (status, id);
CREATE INDEX outbound_pending ON outbound (recipient, id)
    WHERE status IN ('queued', 'in_flight');
CREATE INDEX outbound_awaited ON outbound (reply_due_at_ms, id)
    WHERE status = 'delivered' AND answered_at_ms IS NULL AND reply_due_at_ms IS NOT NULL;

CREATE TABLE outbound_envelope (
    id BLOB PRIMARY KEY NOT NULL REFERENCES outbound (id),
    bytes BLOB NOT NULL,
    sha256 BLOB NOT NULL
);
CREATE TABLE outbound_receipt (
    id BLOB PRIMARY KEY NOT NULL REFERENCES outbound (id),
    bytes BLOB NOT NULL,
    sha256 BLOB NOT NULL
);

CREATE TABLE inbound (
    id BLOB PRIMARY KEY NOT NULL CHECK (length(id) = 16),
    sender TEXT NOT NULL,
    kind TEXT NOT NULL,
    urgent INTEGER NOT NULL,
    issued_at_ms INTEGER NOT NULL,
    in_reply_to BLOB,
    received_at_ms INTEGER NOT NULL,
    envelope_sha256 BLOB NOT NULL,
    reply_due_at_ms INTEGER,
    deadline_error TEXT,
    answered_at_ms INTEGER,
    flagged TEXT
);
CREATE INDEX inbound_by_sender ON inbound (sender, id);
CREATE INDEX inbound_owed ON inbound (reply_due_at_ms, id)
    WHERE answered_at_ms IS NULL AND reply_due_at_ms IS NOT NULL;
CREATE INDEX inbound_deadline_error ON inbound (id)
    WHERE deadline_error IS NOT NULL AND answered_at_ms IS NULL;

CREATE TABLE inbound_envelope (
    id BLOB PRIMARY KEY NOT NULL REFERENCES inbound (id),
    bytes BLOB NOT NULL,
    sha256 BLOB NOT NULL
);
CREATE TABLE inbound_receipt (
    id BLOB PRIMARY KEY NOT NULL REFERENCES inbound (id),
    bytes BLOB NOT NULL,
    sha256 BLOB NOT NULL
);

-- A reply (sent or received) and the notice it answers, which may be unknown here.
CREATE TABLE reply_link (
    original BLOB NOT NULL,
    reply BLOB NOT NULL,
    PRIMARY KEY (original, reply)
) WITHOUT ROWID;

-- The append-only log: one leaf per envelope or receipt sent or received.
CREATE TABLE log_leaf (
    idx INTEGER PRIMARY KEY CHECK (idx >= 0),
    hash BLOB NOT NULL CHECK (length(hash) = 32),
    kind INTEGER NOT NULL CHECK (kind BETWEEN 1 AND 4),
    notice_id BLOB NOT NULL,
    UNIQUE (kind, notice_id)
);
-- The log's compact range (its size and the roots of its perfect subtrees): one row.
CREATE TABLE log_range (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    compact BLOB NOT NULL
);
CREATE TABLE checkpoint (
    size INTEGER PRIMARY KEY,
    note TEXT NOT NULL
);
CREATE TABLE peer_checkpoint (
    peer TEXT PRIMARY KEY NOT NULL,
    note TEXT NOT NULL
);
CREATE TABLE alarm (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    peer TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    acknowledged_at_ms INTEGER
);
"#,
    // 2: the history of this node's own signing keys, so that what an earlier key signed keeps
    // verifying after a rotation.
    r#"
CREATE TABLE own_key (
    since_ms INTEGER PRIMARY KEY,
    public_key BLOB NOT NULL CHECK (length(public_key) = 32)
);
"#,
    // 3: cosignatures other counties made of this node's checkpoints (C2SP tlog-cosignature/v1),
    // the evidence of when its replies existed.
    r#"
CREATE TABLE cosignature (
    size INTEGER NOT NULL,
    witness TEXT NOT NULL,
    time_s INTEGER NOT NULL,
    line TEXT NOT NULL,
    PRIMARY KEY (size, witness)
);
"#,
    // 4: each leaf's time and counterparty, which its hash now commits to (docs/audit-format.md):
    // a store whose log already holds leaves of the earlier form is refused before this runs.
    r#"
ALTER TABLE log_leaf ADD COLUMN logged_at_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE log_leaf ADD COLUMN counterparty TEXT NOT NULL DEFAULT '';
CREATE INDEX log_leaf_by_time ON log_leaf (logged_at_ms, idx);
"#,
    // 5: the person index (identity numbers and names of the people notices name), filled for
    // the envelopes already stored by `persons::index_all` in the same transaction.
    r#"
CREATE TABLE person_key (
    key TEXT NOT NULL,
    notice BLOB NOT NULL CHECK (length(notice) = 16),
    PRIMARY KEY (key, notice)
) WITHOUT ROWID;
"#,
    // 6: the roots of the log's complete subtrees above the leaves (level 1 and up), so that
    // inclusion and consistency proofs read O(log n) rows instead of every leaf; filled from the
    // leaves stored before by `log::fill_nodes` in the same transaction.
    r#"
CREATE TABLE log_node (
    level INTEGER NOT NULL CHECK (level >= 1),
    idx INTEGER NOT NULL CHECK (idx >= 0),
    hash BLOB NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
) WITHOUT ROWID;
"#,
];

/// The migration after which the log's interior nodes are filled from its leaves.
const LOG_NODES_MIGRATION: usize = 6;

/// The first schema version whose leaves commit to their time and counterparty.
const TIMED_LEAVES: u32 = 4;

/// The migration after which the person index is filled from the stored envelopes.
const PERSON_INDEX_MIGRATION: usize = 5;

/// The schema version this code reads and writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Applies the migrations `conn`'s store lacks; refuses a store newer than this build.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let found: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaVersion {
            found: found.to_string(),
        });
    }
    if found > 0 && found < TIMED_LEAVES {
        let leaves: u64 = conn.query_row("SELECT count(*) FROM log_leaf", [], |r| r.get(0))?;
        if leaves > 0 {
            return Err(StoreError::SchemaVersion {
                found: format!(
                    "{found}, whose log of {leaves} leaves predates leaves that record their \
                     time and counterparty (schema {TIMED_LEAVES}); it cannot be upgraded"
                ),
            });
        }
    }
    for (done, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        if done + 1 == PERSON_INDEX_MIGRATION {
            crate::persons::index_all(&tx)?;
        }
        if done + 1 == LOG_NODES_MIGRATION {
            crate::log::fill_nodes(&tx)?;
        }
        tx.pragma_update(None, "user_version", done as u32 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
