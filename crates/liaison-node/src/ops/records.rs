//! Records kept for others: the reply-time report, audit bundles and backups of the store.

use std::path::Path;

use liaison_core::CountyCode;
use liaison_core::audit::Bundle;
use liaison_store::StoreError;
use tracing::info;

use super::{Ops, OpsError, Result, Role};
use crate::audit::{self, ExportError, ExportRequest};
use crate::report::{self, Row};

/// A period, and for audit bundles which peer and whether to leave payloads out.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReportQuery {
    pub(crate) from_ms: i64,
    pub(crate) to_ms: i64,
}

/// The reply-time report of a period, one row per peer, kind and direction.
#[derive(Debug, Clone)]
pub(crate) struct ReportView {
    pub(crate) query: ReportQuery,
    pub(crate) generated_at_ms: i64,
    /// Each row with the peer's directory name.
    pub(crate) rows: Vec<(Row, String)>,
}

/// A backup taken: where, and the log it holds.
#[derive(Debug, Clone)]
pub(crate) struct Backup {
    pub(crate) path: String,
    pub(crate) log_size: u64,
    pub(crate) root: [u8; 32],
}

fn check_period(from_ms: i64, to_ms: i64) -> Result<()> {
    if to_ms <= from_ms {
        return Err(OpsError::Invalid(
            "period: the end must come after the start".into(),
        ));
    }
    Ok(())
}

impl Ops {
    /// How replies went in a period, by peer, kind and direction.
    pub(crate) fn report(&self, query: ReportQuery) -> Result<ReportView> {
        check_period(query.from_ms, query.to_ms)?;
        let now = self.now_ms();
        let store = &self.state.store;
        let mut report = report::Report::new(query.from_ms, query.to_ms, now);
        for record in store.all_inbound()? {
            report.add_inbound(&record);
        }
        let policy = self.state.policy();
        for record in store.all_outbound()? {
            report.add_outbound(&record, policy.rule(record.kind).is_some());
        }
        let rows = report
            .rows()
            .into_iter()
            .map(|row| {
                let name = self.peer_name(row.peer);
                (row, name)
            })
            .collect();
        Ok(ReportView {
            query,
            generated_at_ms: now,
            rows,
        })
    }

    /// An audit bundle of a period: the signed notices and receipts with their log proofs.
    /// Auditors get redacted bundles only.
    pub(crate) async fn export_audit(
        &self,
        from_ms: i64,
        to_ms: i64,
        peer: Option<CountyCode>,
        redact_payloads: bool,
    ) -> Result<Bundle> {
        let auditor = self.role == Role::Auditor;
        if auditor && !redact_payloads {
            return Err(OpsError::Forbidden(
                "auditors may export redacted bundles only (--redact-payloads)".into(),
            ));
        }
        check_period(from_ms, to_ms)?;
        let export = ExportRequest {
            from_ms,
            to_ms,
            peer,
            redact: redact_payloads,
        };
        let state = self.state.clone();
        let bundle = tokio::task::spawn_blocking(move || audit::export(&state, &export))
            .await
            .map_err(|e| OpsError::Internal(format!("export task failed: {e}")))?
            .map_err(|e| match e {
                ExportError::Nothing(why) => OpsError::NotFound(why),
                other => OpsError::Internal(other.to_string()),
            })?;
        info!(
            items = bundle.items.len(),
            redacted = redact_payloads,
            auditor,
            "exported an audit bundle"
        );
        Ok(bundle)
    }

    /// Writes a consistent copy of the store to `path` on the node's machine, which must be a
    /// new file in an existing directory.
    pub(crate) async fn backup(&self, path: &Path) -> Result<Backup> {
        self.operator_only("take backups")?;
        if path.as_os_str().is_empty() {
            return Err(OpsError::Invalid(
                "out_path: required (the file to write the backup to)".into(),
            ));
        }
        // The node's working directory is no concern of the caller's.
        if !path.is_absolute() {
            return Err(OpsError::Invalid(format!(
                "out_path: {} is not an absolute path",
                path.display()
            )));
        }
        if let Some(dir) = path.parent().filter(|d| !d.is_dir()) {
            return Err(OpsError::NotNow(format!(
                "out_path: there is no directory {} on the node's machine",
                dir.display()
            )));
        }
        let started = std::time::Instant::now();
        let head = self.state.store.backup(path).await.map_err(|e| match e {
            StoreError::Refused(why) => OpsError::Exists(why),
            StoreError::Io(e) => {
                OpsError::NotNow(format!("out_path: cannot write {}: {e}", path.display()))
            }
            other => other.into(),
        })?;
        info!(
            path = %path.display(),
            log_size = head.size,
            took_ms = started.elapsed().as_millis() as u64,
            "took a backup of the store"
        );
        Ok(Backup {
            path: path.display().to_string(),
            log_size: head.size,
            root: head.root,
        })
    }
}
