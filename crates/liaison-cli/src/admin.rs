//! Operator commands: talk to the node's admin interface and print what it says.

use std::net::SocketAddr;
use std::path::Path;

use liaison_core::{NoticeStatus, OutboundStatus};
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
        Code::InvalidArgument | Code::NotFound | Code::FailedPrecondition | Code::AlreadyExists => {
            EXIT_BAD_INPUT
        }
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

/// What names a notice for the node, so that sending it again queues nothing new.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    /// The draft's own `client_key`.
    Draft,
    /// Derived from the draft file's content (and the notice it answers).
    File(String),
    /// None: every send queues a new notice.
    None,
}

/// The draft JSON to send, with the key that names it.
#[derive(Debug)]
struct Prepared {
    draft_json: String,
    key: Key,
    /// The draft's recipient, for advice about where to look.
    recipient: Option<String>,
}

/// The key a draft without one gets: the same file sent again as the same notice or reply is
/// recognised, and any change to it makes a new notice.
fn file_key(draft_json: &str, in_reply_to: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(draft_json.as_bytes());
    hash.update(b"\n");
    hash.update(in_reply_to.as_bytes());
    format!("file:{}", hex::encode(hash.finalize()))
}

/// Gives a draft without a `client_key` one derived from its content, or with `again` takes any
/// key away. A draft that is not a JSON object goes as it is, for the node to say what is wrong.
fn prepare(draft_json: String, in_reply_to: &str, again: bool) -> Prepared {
    let Ok(serde_json::Value::Object(mut members)) =
        serde_json::from_str::<serde_json::Value>(&draft_json)
    else {
        return Prepared {
            draft_json,
            key: Key::None,
            recipient: None,
        };
    };
    let recipient = members
        .get("recipient")
        .and_then(|r| r.as_str())
        .map(str::to_owned);
    let own = members.get("client_key").cloned();
    if again {
        let draft_json = if own.is_some() {
            members.remove("client_key");
            serde_json::Value::Object(members).to_string()
        } else {
            draft_json
        };
        return Prepared {
            draft_json,
            key: Key::None,
            recipient,
        };
    }
    if let Some(own) = own {
        // The node checks the key; a blank one means none.
        let blank = own.as_str().is_some_and(|k| k.trim().is_empty());
        return Prepared {
            draft_json,
            key: if blank { Key::None } else { Key::Draft },
            recipient,
        };
    }
    if members.is_empty() {
        return Prepared {
            draft_json,
            key: Key::None,
            recipient,
        };
    }
    // The key goes in front of the other members, so the rest of the text is sent as written.
    let key = file_key(&draft_json, in_reply_to);
    let brace = draft_json.find('{').unwrap_or(0);
    let member = format!(
        "{}:{},",
        serde_json::Value::from("client_key"),
        serde_json::Value::from(key.as_str())
    );
    let mut text = String::with_capacity(draft_json.len() + member.len());
    text.push_str(&draft_json[..=brace]);
    text.push_str(&member);
    text.push_str(&draft_json[brace + 1..]);
    Prepared {
        draft_json: text,
        key: Key::File(key),
        recipient,
    }
}

/// Whether a failed call may have reached the node and been carried out, as opposed to a refusal
/// the node stated.
fn outcome_unknown(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable | Code::Unknown | Code::Cancelled | Code::DeadlineExceeded
    )
}

/// The message for a send that failed: the node's refusal as it is, or, when it is not known
/// whether the notice was queued, how to find out.
fn send_failure(
    status: Status,
    file: &Path,
    in_reply_to: Option<&str>,
    prepared: &Prepared,
) -> Failure {
    let unknown = outcome_unknown(status.code());
    let mut failure = refused(status);
    if !unknown {
        failure.message = format!("{}: {}", file.display(), failure.message);
        return failure;
    }
    let command = match in_reply_to {
        Some(id) => format!("liaison reply {id} {}", file.display()),
        None => format!("liaison send {}", file.display()),
    };
    let look = match (in_reply_to, &prepared.recipient) {
        (Some(id), _) => format!("the replies that `liaison show {id}` lists"),
        (None, Some(peer)) => format!("`liaison outbox --peer {peer}`"),
        (None, None) => "`liaison outbox`".to_owned(),
    };
    let check = match prepared.key {
        Key::File(_) => format!(
            "To find out, run the same `{command}` again: the notice is recognised by its content \
             and not queued twice. Or look at {look}."
        ),
        Key::Draft => format!(
            "To find out, run the same `{command}` again: the draft's client_key makes sure the \
             notice is not queued twice. Or look at {look}."
        ),
        Key::None => format!(
            "Look at {look} before sending again: this send had no client key, so sending it \
             again queues another copy if the first was queued."
        ),
    };
    failure.message = format!(
        "{}: the call failed after it may have reached the node ({}), so the notice may or may \
         not have been queued. {check}",
        file.display(),
        failure.message
    );
    failure
}

pub async fn send(
    node: &NodeArgs,
    file: &Path,
    in_reply_to: Option<String>,
    again: bool,
    out: Output,
) -> Result<(), Failure> {
    let draft_json = read_draft(file)?;
    let prepared = prepare(
        draft_json,
        in_reply_to.as_deref().unwrap_or_default(),
        again,
    );
    let mut admin = open(node).await?;
    let request = pb::SendRequest {
        draft_json: prepared.draft_json.clone(),
        in_reply_to: in_reply_to.clone().unwrap_or_default(),
    };
    let info = admin
        .send(request)
        .await
        .map_err(|s| send_failure(s, file, in_reply_to.as_deref(), &prepared))?
        .into_inner();
    let earlier = match prepared.key {
        Key::Draft => "sent earlier with the same client_key",
        _ => "sent earlier from the same file",
    };
    print::sent(&info, earlier, out);
    Ok(())
}

pub async fn outbox(
    node: &NodeArgs,
    status: Option<String>,
    peer: Option<String>,
    limit: u32,
    out: Output,
) -> Result<(), Failure> {
    let status = match status.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(
            OutboundStatus::parse(text)
                .map_err(|e| Failure::new(EXIT_BAD_INPUT, format!("--status {e}")))?,
        ),
    };
    let mut admin = open(node).await?;
    let request = pb::ListRequest {
        status: status.map_or(0, |s| NoticeStatus::Outbound(s).to_wire() as i32),
        peer: peer.unwrap_or_default(),
        limit,
    };
    let list = admin
        .list_outbox(request)
        .await
        .map_err(refused)?
        .into_inner();
    print::outbox(&list, out);
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
        status: 0,
        peer: peer.unwrap_or_default(),
        limit,
    };
    let list = admin
        .list_inbox(request)
        .await
        .map_err(refused)?
        .into_inner();
    print::inbox(&list, out);
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
    print::notice_done(&info, OutboundStatus::Cancelled.name(), out);
    Ok(())
}

pub async fn due(
    node: &NodeArgs,
    side: pb::Side,
    overdue_only: bool,
    limit: u32,
    out: Output,
) -> Result<(), Failure> {
    let mut admin = open(node).await?;
    let request = pb::DueRequest {
        side: side as i32,
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
    print::peers(&peers, out);
    Ok(())
}

/// Hands a signed directory to the node; refusals say why (bad signature, serial not newer).
pub async fn publish_directory(
    node: &NodeArgs,
    note: String,
) -> Result<pb::PublishDirectoryResponse, Failure> {
    let mut admin = open(node).await?;
    Ok(admin
        .publish_directory(pb::PublishDirectoryRequest {
            signed_directory: note,
        })
        .await
        .map_err(refused)?
        .into_inner())
}

pub async fn backup(node: &NodeArgs, file: &Path, out: Output) -> Result<(), Failure> {
    // The node does not share the CLI's working directory.
    let path = if file.is_absolute() {
        file.to_owned()
    } else {
        std::env::current_dir()
            .map_err(|e| {
                Failure::new(
                    EXIT_FAILURE,
                    format!("cannot tell the current directory: {e}"),
                )
            })?
            .join(file)
    };
    let out_path = path.to_str().ok_or_else(|| {
        Failure::new(
            EXIT_BAD_INPUT,
            format!("{}: the path is not valid UTF-8", path.display()),
        )
    })?;
    let mut admin = open(node).await?;
    let backup = admin
        .backup(pb::BackupRequest {
            out_path: out_path.to_owned(),
        })
        .await
        .map_err(refused)?
        .into_inner();
    print::backup(&backup, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DRAFT: &str = r#"{
  "recipient": "610603",
  "body": {"kind": "reply_letter", "text": "收悉。"}
}"#;

    #[test]
    fn a_draft_without_a_key_gets_one_from_its_content_and_is_otherwise_sent_as_written() {
        let prepared = prepare(DRAFT.to_owned(), "", false);
        let Key::File(key) = &prepared.key else {
            panic!("{prepared:?}")
        };
        assert!(key.starts_with("file:") && key.len() == 5 + 64, "{key}");
        let sent: serde_json::Value = serde_json::from_str(&prepared.draft_json).unwrap();
        assert_eq!(sent["client_key"], key.as_str());
        assert!(
            prepared.draft_json.ends_with(&DRAFT[1..]),
            "{}",
            prepared.draft_json
        );
        assert_eq!(prepared.recipient.as_deref(), Some("610603"));

        let again = prepare(DRAFT.to_owned(), "", false);
        assert_eq!(again.key, prepared.key, "the same content, the same key");
        let edited = prepare(DRAFT.replace("收悉", "已收悉"), "", false);
        assert_ne!(edited.key, prepared.key);
        let as_reply = prepare(
            DRAFT.to_owned(),
            "0190c3b2-7c1e-7a4e-9d2b-1f0c8e5a6b7c",
            false,
        );
        assert_ne!(
            as_reply.key, prepared.key,
            "a reply to a notice is another notice"
        );
    }

    #[test]
    fn again_sends_without_any_key_and_a_drafts_own_key_is_kept() {
        let prepared = prepare(DRAFT.to_owned(), "", true);
        assert_eq!(prepared.key, Key::None);
        assert_eq!(prepared.draft_json, DRAFT);

        let own = DRAFT.replacen('{', r#"{"client_key": "order-17","#, 1);
        let prepared = prepare(own.clone(), "", false);
        assert_eq!(prepared.key, Key::Draft);
        assert_eq!(prepared.draft_json, own);
        let prepared = prepare(own, "", true);
        assert_eq!(prepared.key, Key::None);
        let sent: serde_json::Value = serde_json::from_str(&prepared.draft_json).unwrap();
        assert!(sent.get("client_key").is_none(), "{sent}");
    }

    #[test]
    fn a_draft_that_is_not_a_json_object_goes_unchanged_for_the_node_to_refuse() {
        for text in ["{", "[]", "{}", ""] {
            let prepared = prepare(text.to_owned(), "", false);
            assert_eq!(prepared.draft_json, text);
            assert_eq!(prepared.key, Key::None);
        }
    }

    #[test]
    fn a_send_that_may_have_reached_the_node_says_so_and_how_to_check() {
        let file = Path::new("notice.json");
        let prepared = prepare(DRAFT.to_owned(), "", false);
        for status in [
            Status::unavailable("connection reset"),
            Status::unknown("transport error"),
            Status::deadline_exceeded("timeout"),
            Status::cancelled("cancelled"),
        ] {
            let message = send_failure(status, file, None, &prepared).message;
            assert!(
                message.contains("may or may not have been queued"),
                "{message}"
            );
            assert!(
                message.contains("`liaison send notice.json` again"),
                "{message}"
            );
            assert!(message.contains("not queued twice"), "{message}");
            assert!(
                message.contains("liaison outbox --peer 610603"),
                "{message}"
            );
        }
        let again = prepare(DRAFT.to_owned(), "", true);
        let message = send_failure(Status::unavailable("reset"), file, None, &again).message;
        assert!(message.contains("queues another copy"), "{message}");
    }

    #[test]
    fn a_refusal_the_node_states_keeps_its_message() {
        let prepared = prepare(DRAFT.to_owned(), "", false);
        let failure = send_failure(
            Status::invalid_argument("recipient: 610699 is not a peer"),
            Path::new("notice.json"),
            None,
            &prepared,
        );
        assert_eq!(failure.code, EXIT_BAD_INPUT);
        assert_eq!(
            failure.message,
            "notice.json: recipient: 610699 is not a peer"
        );
    }

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
