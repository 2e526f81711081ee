//! The admin API's enum values by the names operators read in listings and JSON ("overdue",
//! "case_notice", ...), so that tests can state expectations in a table.

use liaison_core::{DeadlineStatus, NoticeKind};
use liaison_proto::v1 as pb;

/// A deadline state's name; "" while no deadline clock runs.
pub fn deadline(value: i32) -> &'static str {
    DeadlineStatus::from_wire(value).map_or("", DeadlineStatus::name)
}

/// A kind's snake-case name.
pub fn kind(value: i32) -> &'static str {
    NoticeKind::from_wire(value).map_or("", NoticeKind::name)
}

/// "owed" or "awaited".
pub fn side(value: i32) -> &'static str {
    match pb::Side::try_from(value) {
        Ok(pb::Side::Owed) => "owed",
        Ok(pb::Side::Awaited) => "awaited",
        _ => "",
    }
}

/// The side named `name` ("owed", "awaited", or "" for both).
pub fn side_named(name: &str) -> pb::Side {
    match name {
        "owed" => pb::Side::Owed,
        "awaited" => pb::Side::Awaited,
        "" => pb::Side::Unspecified,
        other => panic!("no side {other:?}"),
    }
}

/// A report row's direction as reports name it: "received" or "sent".
pub fn report_direction(value: i32) -> &'static str {
    match pb::Direction::try_from(value) {
        Ok(pb::Direction::Inbound) => "received",
        Ok(pb::Direction::Outbound) => "sent",
        _ => "",
    }
}
