//! The blob tables: each outbound and inbound notice's envelope and receipt, with its SHA-256.

use liaison_core::NoticeId;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

/// The blob tables: envelopes and receipts, each with the checksum
/// [`Store::open`](crate::Store::open) verifies.
#[derive(Clone, Copy)]
pub(crate) enum Blob {
    OutboundEnvelope,
    OutboundReceipt,
    InboundEnvelope,
    InboundReceipt,
}

impl Blob {
    fn table(self) -> &'static str {
        match self {
            Self::OutboundEnvelope => "outbound_envelope",
            Self::OutboundReceipt => "outbound_receipt",
            Self::InboundEnvelope => "inbound_envelope",
            Self::InboundReceipt => "inbound_receipt",
        }
    }
}

pub(crate) fn put_blob(
    conn: &Connection,
    blob: Blob,
    id: &NoticeId,
    bytes: &[u8],
) -> rusqlite::Result<()> {
    conn.prepare_cached(&format!(
        "INSERT INTO {} (id, bytes, sha256) VALUES (?1, ?2, ?3)",
        blob.table()
    ))?
    .execute(params![
        id.as_bytes(),
        bytes,
        Sha256::digest(bytes).as_slice()
    ])?;
    Ok(())
}

pub(crate) fn get_blob(
    conn: &Connection,
    blob: Blob,
    id: &NoticeId,
) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.prepare_cached(&format!("SELECT bytes FROM {} WHERE id = ?1", blob.table()))?
        .query_row([id.as_bytes()], |r| r.get(0))
        .optional()
}
