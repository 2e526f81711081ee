//! The peers page: each peer county's endpoint, backlog and oldest undelivered notice, last
//! success and error, alarms, contact, agreement, and certificate and key expiry.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use liaison_core::CountyCode;
use liaison_proto::v1 as pb;
use liaison_proto::v1::admin_server::Admin as _;
use maud::Markup;

use super::layout::{kind_label, link, time};
use super::{authed, to_login};
use crate::NodeState;
use crate::admin::AdminService;

/// A time for a table cell, or `none` when it is 0 (unknown or not set).
fn optional_time(ms: i64, none: &str) -> String {
    if ms == 0 { none.to_owned() } else { time(ms) }
}

/// A peer's oldest undelivered notice: its id and when it was issued.
struct Oldest {
    id: String,
    issued_at_ms: i64,
}

/// The peers page: the admin service's peer statuses and each peer's oldest pending notice.
pub(super) async fn peers(State(state): State<Arc<NodeState>>, headers: HeaderMap) -> Response {
    let Some(who) = authed(&state, &headers) else {
        return to_login();
    };
    let title = "对方县区 Peers";
    let service = AdminService {
        state: state.clone(),
    };
    let peers = match service.peers(who.request(pb::PeersRequest {})).await {
        Ok(p) => p.into_inner().peers,
        Err(s) => return who.error_page(StatusCode::SERVICE_UNAVAILABLE, title, s.message()),
    };
    let oldest: Vec<Option<Oldest>> = peers
        .iter()
        .map(|p| {
            CountyCode::parse(&p.county)
                .ok()
                .and_then(|c| state.store.pending_for(c, 1).ok())
                .and_then(|v| v.into_iter().next())
                .map(|r| Oldest {
                    id: r.id.to_string(),
                    issued_at_ms: r.issued_at_ms,
                })
        })
        .collect();
    who.page(StatusCode::OK, title, peers_body(&peers, &oldest))
}

/// The peers page below its title: one row per peer county, with its oldest undelivered notice
/// from `oldest` (in the same order as `peers`).
fn peers_body(peers: &[pb::PeerInfo], oldest: &[Option<Oldest>]) -> Markup {
    maud::html! {
        table {
            thead {
                tr {
                    th { "县区 County" }
                    th { "地址 Endpoint" }
                    th { "待发 Backlog" }
                    th { "最早未送达 Oldest undelivered" }
                    th { "最近成功 Last success" }
                    th { "最近错误 Last error" }
                    th { "警报 Alarms" }
                    th { "联系人 Contact" }
                    th { "电话 Phone" }
                    th { "协议生效 Agreement effective" }
                    th { "允许种类 Allowed kinds" }
                    th { "证书到期 Certificate expires" }
                    th { "密钥到期 Key expires" }
                }
            }
            tbody {
                @for (p, oldest) in peers.iter().zip(oldest) {
                    @let kinds: Vec<String> = p.allowed_kinds.iter().map(|k| kind_label(k)).collect();
                    tr {
                        td { (p.county) " " (p.name) }
                        td { (p.endpoint) }
                        td { (p.backlog) }
                        td {
                            @match oldest {
                                Some(o) => { (link(&o.id)) " (" (time(o.issued_at_ms)) ")" },
                                None => "-",
                            }
                        }
                        td { (optional_time(p.last_success_at_ms, "-")) }
                        td { (p.last_error) }
                        td { (p.alarms.join("\n")) }
                        td { (p.contact_person) }
                        td { (p.phone) }
                        td { (p.agreement_effective) }
                        td { (kinds.join(", ")) }
                        td { (optional_time(p.certificate_expires_at_ms, "未知 not seen yet")) }
                        td { (optional_time(p.key_expires_at_ms, "无期限 no end date")) }
                    }
                }
            }
        }
    }
}
