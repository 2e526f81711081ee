//! The console's access log: operator actions and payload views, to the tracing target
//! `liaison::access` and to `<data_dir>/access.log`, one JSON object a line.

use std::io::Write as _;

use liaison_core::clock::format_cst;

use crate::NodeState;

/// Records an operator action or a payload view.
pub(super) fn access(state: &NodeState, account: &str, action: &str, notice: &str) {
    tracing::info!(target: "liaison::access", account, action, notice_id = notice, "console access");
    let line = serde_json::json!({
        "at": format_cst(state.clock.now_ms()),
        "account": account,
        "action": action,
        "notice_id": notice,
    });
    let path = state.config.data_dir.join("access.log");
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
    if let Err(e) = written {
        tracing::warn!(path = %path.display(), error = %e, "cannot append to the access log");
    }
}
