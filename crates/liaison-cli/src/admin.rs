//! Operator commands: talk to the node's admin interface and print what it says.

use std::net::SocketAddr;
use std::path::Path;

use liaison_node::config::Config;
use liaison_proto::v1 as pb;
use liaison_proto::v1::admin_client::AdminClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

use crate::print;
use crate::{
    EXIT_BAD_CONFIG, EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_UNREACHABLE, Failure, NodeArgs, Output,
};

/// Adds the admin token to every call.
#[derive(Clone)]
pub struct Token(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Token {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// A connection to one node's admin interface.
pub type Admin = AdminClient<InterceptedService<Channel, Token>>;

/// Connects to the admin interface at `addr` with `token`.
pub async fn connect(addr: SocketAddr, token: &str) -> Result<Admin, Failure> {
    let value = format!("Bearer {token}").parse().map_err(|_| {
        Failure::new(
            EXIT_BAD_CONFIG,
            "the admin token contains characters that cannot be sent",
        )
    })?;
    let channel = Channel::from_shared(format!("http://{addr}"))
        .map_err(|e| Failure::new(EXIT_BAD_CONFIG, format!("admin address {addr}: {e}")))?
        .connect()
        .await
        .map_err(|e| Failure::new(EXIT_UNREACHABLE, format!("cannot reach the node's admin interface at {addr}: {e}; is `liaison serve` running?")))?;
    Ok(AdminClient::with_interceptor(channel, Token(value)))
}

async fn open(node: &NodeArgs) -> Result<Admin, Failure> {
    let config =
        Config::load(&node.config).map_err(|e| Failure::new(EXIT_BAD_CONFIG, e.to_string()))?;
    let token_path = node
        .token_file
        .clone()
        .unwrap_or_else(|| config.admin_token_path());
    let token = std::fs::read_to_string(&token_path).map_err(|e| {
        Failure::new(
            EXIT_UNREACHABLE,
            format!(
                "cannot read the admin token {}: {e}; it is made when the node first starts",
                token_path.display()
            ),
        )
    })?;
    connect(config.admin_addr, token.trim()).await
}

/// Turns a refusal from the node into a message and exit code for the operator.
pub fn refused(status: Status) -> Failure {
    let code = match status.code() {
        Code::InvalidArgument | Code::NotFound | Code::FailedPrecondition => EXIT_BAD_INPUT,
        Code::Unavailable => EXIT_UNREACHABLE,
        _ => EXIT_FAILURE,
    };
    Failure::new(code, status.message().to_owned())
}

/// Reads a draft file, JSON or TOML (by its extension), as draft JSON.
pub fn read_draft(file: &Path) -> Result<String, Failure> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        Failure::new(
            EXIT_BAD_INPUT,
            format!("cannot read {}: {e}", file.display()),
        )
    })?;
    if file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
    {
        let value: toml::Value = toml::from_str(&text).map_err(|e| {
            Failure::new(
                EXIT_BAD_INPUT,
                format!("{}: not valid TOML: {e}", file.display()),
            )
        })?;
        Ok(toml_to_json(value).to_string())
    } else {
        Ok(text)
    }
}

/// TOML dates (`event_date = 2024-05-02`) become the strings a draft expects.
fn toml_to_json(value: toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        toml::Value::String(s) => J::String(s),
        toml::Value::Integer(i) => J::from(i),
        toml::Value::Float(f) => J::from(f),
        toml::Value::Boolean(b) => J::Bool(b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(items) => J::Array(items.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => J::Object(
            table
                .into_iter()
                .map(|(k, v)| (k, toml_to_json(v)))
                .collect(),
        ),
    }
}

pub async fn send(
    node: &NodeArgs,
    file: &Path,
    in_reply_to: Option<String>,
    out: Output,
) -> Result<(), Failure> {
    let draft_json = read_draft(file)?;
    let mut admin = open(node).await?;
    let request = pb::SendRequest {
        draft_json,
        in_reply_to: in_reply_to.unwrap_or_default(),
    };
    let info = admin.send(request).await.map_err(|s| {
        let mut f = refused(s);
        f.message = format!("{}: {}", file.display(), f.message);
        f
    })?;
    print::notice_done(&info.into_inner(), "queued", out);
    Ok(())
}

pub async fn outbox(
    node: &NodeArgs,
    status: Option<String>,
    peer: Option<String>,
    limit: u32,
    out: Output,
) -> Result<(), Failure> {
    let mut admin = open(node).await?;
    let request = pb::ListRequest {
        status: status.unwrap_or_default(),
        peer: peer.unwrap_or_default(),
        limit,
    };
    let list = admin
        .list_outbox(request)
        .await
        .map_err(refused)?
        .into_inner();
    print::outbox(&list.notices, out);
    Ok(())
}

pub async fn inbox(
    node: &NodeArgs,
    peer: Option<String>,
    limit: u32,
    out: Output,
) -> Result<(), Failure> {
    let mut admin = open(node).await?;
    let request = pb::ListRequest {
        status: String::new(),
        peer: peer.unwrap_or_default(),
        limit,
    };
    let list = admin
        .list_inbox(request)
        .await
        .map_err(refused)?
        .into_inner();
    print::inbox(&list.notices, out);
    Ok(())
}

pub async fn show(node: &NodeArgs, id: &str, out: Output) -> Result<(), Failure> {
    let mut admin = open(node).await?;
    let detail = admin
        .show(pb::NoticeRef {
            notice_id: id.to_owned(),
        })
        .await
        .map_err(refused)?
        .into_inner();
    print::detail(&detail, out);
    Ok(())
}

pub async fn retry(node: &NodeArgs, id: &str, out: Output) -> Result<(), Failure> {
    let mut admin = open(node).await?;
    let info = admin
        .retry(pb::NoticeRef {
            notice_id: id.to_owned(),
        })
        .await
        .map_err(refused)?
        .into_inner();
    print::notice_done(&info, "will be retried now", out);
    Ok(())
}

pub async fn cancel(node: &NodeArgs, id: &str, out: Output) -> Result<(), Failure> {
    let mut admin = open(node).await?;
    let info = admin
        .cancel(pb::NoticeRef {
            notice_id: id.to_owned(),
        })
        .await
        .map_err(refused)?
        .into_inner();
    print::notice_done(&info, "cancelled", out);
    Ok(())
}

pub async fn due(
    node: &NodeArgs,
    side: &str,
    overdue_only: bool,
    limit: u32,
    out: Output,
) -> Result<(), Failure> {
    let mut admin = open(node).await?;
    let request = pb::DueRequest {
        side: side.to_owned(),
        overdue_only,
        limit,
    };
    let due = admin.due(request).await.map_err(refused)?.into_inner();
    print::due(&due, side, overdue_only, true, out);
    Ok(())
}

pub async fn report(
    node: &NodeArgs,
    from_ms: i64,
    to_ms: i64,
    csv: bool,
    out: Output,
) -> Result<(), Failure> {
    let mut admin = open(node).await?;
    let report = admin
        .report(pb::ReportRequest { from_ms, to_ms })
        .await
        .map_err(refused)?
        .into_inner();
    print::report(&report, csv, out);
    Ok(())
}

pub async fn export_audit(
    node: &NodeArgs,
    from_ms: i64,
    to_ms: i64,
    peer: Option<String>,
    redact_payloads: bool,
    out: &Path,
) -> Result<(), Failure> {
    if out.exists() {
        return Err(Failure::new(
            EXIT_BAD_INPUT,
            format!("{} exists already; it is never overwritten", out.display()),
        ));
    }
    let admin = open(node).await?;
    let mut admin = admin.max_decoding_message_size(MAX_BUNDLE_BYTES);
    let request = pb::AuditExportRequest {
        from_ms,
        to_ms,
        peer: peer.unwrap_or_default(),
        redact_payloads,
    };
    let export = admin
        .export_audit(request)
        .await
        .map_err(refused)?
        .into_inner();
    std::fs::write(out, export.bundle_json.as_bytes())
        .map_err(|e| Failure::new(EXIT_FAILURE, format!("cannot write {}: {e}", out.display())))?;
    println!(
        "wrote {} ({} log entries{}); check it with: liaison audit verify {}",
        out.display(),
        export.items,
        if redact_payloads {
            ", payloads left out"
        } else {
            ""
        },
        out.display()
    );
    Ok(())
}

/// The largest bundle the CLI accepts from the node.
const MAX_BUNDLE_BYTES: usize = 1 << 30;

pub async fn accept_peer_log(node: &NodeArgs, peer: &str) -> Result<(), Failure> {
    let mut admin = open(node).await?;
    let request = pb::AcceptPeerLogRequest {
        peer: peer.to_owned(),
    };
    let info = admin
        .accept_peer_log(request)
        .await
        .map_err(refused)?
        .into_inner();
    println!(
        "accepted the log of {} {} as it is now; its next checkpoint is the new starting point",
        info.county, info.name
    );
    Ok(())
}

pub async fn peers(node: &NodeArgs, out: Output) -> Result<(), Failure> {
    let mut admin = open(node).await?;
    let peers = admin
        .peers(pb::PeersRequest {})
        .await
        .map_err(refused)?
        .into_inner();
    print::peers(&peers.peers, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_draft_with_bare_dates_becomes_the_json_draft() {
        let text = r#"
recipient = "610603"
[body]
kind = "reply_letter"
text = "已核实"
[body.extra]
when = 2024-05-02
"#;
        let value: toml::Value = toml::from_str(text).unwrap();
        let json = toml_to_json(value);
        assert_eq!(json["recipient"], "610603");
        assert_eq!(json["body"]["extra"]["when"], "2024-05-02");
    }
}
