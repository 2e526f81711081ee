//! The peers page: each peer county's endpoint, backlog and oldest undelivered notice, last
//! success and error, alarms, contact, agreement, and certificate and key expiry; above them, the
//! serial of the city's signed directory in use.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::Markup;

use super::layout::{error_text, kind_label, link, time};
use super::{authed, to_login};
use crate::NodeState;
use crate::ops::PeersView;

/// A time for a table cell, or `none` when it is not known or not set.
fn optional_time(ms: Option<i64>, none: &str) -> String {
    ms.map_or_else(|| none.to_owned(), time)
}

/// The peers page: each peer's status and its oldest pending notice.
pub(super) async fn peers(State(state): State<Arc<NodeState>>, headers: HeaderMap) -> Response {
    let Some(who) = authed(&state, &headers) else {
        return to_login();
    };
    let title = "对方县区 Peers";
    let peers = match who.ops(&state).peers() {
        Ok(p) => p,
        Err(e) => {
            return who.error_page(StatusCode::SERVICE_UNAVAILABLE, title, &e.to_string());
        }
    };
    who.page(StatusCode::OK, title, peers_body(&peers))
}

/// The peers page below its title: one row per peer county.
fn peers_body(view: &PeersView) -> Markup {
    let peers = &view.peers;
    maud::html! {
        @if let Some(serial) = view.directory_serial {
            p { "名录 Directory: serial " (serial) ", signed by the city" }
        }
        table.list {
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
                    th { "时钟 Clock" }
                }
            }
            tbody {
                @for p in peers {
                    @let kinds: Vec<String> = p.allowed_kinds.iter().map(|k| kind_label(*k)).collect();
                    tr {
                        td data-label="县区 County" { (p.county.map(|c| c.to_string()).unwrap_or_default()) " " (p.name) }
                        td data-label="地址 Endpoint" { (p.endpoint) }
                        td data-label="待发 Backlog" { (p.backlog) }
                        td data-label="最早未送达 Oldest undelivered" {
                            @match p.oldest_pending {
                                Some((id, issued_at_ms)) => {
                                    (link(&id.to_string())) " (" (time(issued_at_ms)) ")"
                                },
                                None => "-",
                            }
                        }
                        td data-label="最近成功 Last success" { (optional_time(p.last_success_at_ms, "-")) }
                        td data-label="最近错误 Last error" {
                            @if let Some(e) = &p.last_error {
                                (error_text(e))
                            }
                        }
                        td data-label="警报 Alarms" { (p.alarms.join("\n")) }
                        td data-label="联系人 Contact" { (p.contact_person) }
                        td data-label="电话 Phone" { (p.phone) }
                        td data-label="协议生效 Agreement effective" { (p.agreement_effective) }
                        td data-label="允许种类 Allowed kinds" { (kinds.join(", ")) }
                        td data-label="证书到期 Certificate expires" { (optional_time(p.certificate_expires_at_ms, "未知 not seen yet")) }
                        td data-label="密钥到期 Key expires" { (optional_time(p.key_expires_at_ms, "无期限 no end date")) }
                        td.clock data-label="时钟 Clock" {
                            @match p.clock_offset_ms {
                                Some(offset) => {
                                    "时钟不一致 clocks disagree: "
                                    (format!("{:+} s", offset / 1000))
                                    " (允许 allowed ±" (view.allowed_skew_ms / 1000) " s)"
                                },
                                None => "未见不一致 no disagreement seen",
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_serial_is_shown_only_for_a_signed_directory() {
        let signed = PeersView {
            directory_serial: Some(7),
            ..PeersView::default()
        };
        assert!(
            peers_body(&signed)
                .into_string()
                .contains("名录 Directory: serial 7")
        );
        assert!(
            !peers_body(&PeersView::default())
                .into_string()
                .contains("名录")
        );
    }
}
