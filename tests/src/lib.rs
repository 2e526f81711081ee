//! End-to-end test harness for liaison: real nodes on 127.0.0.1 talking mutual-TLS gRPC.
//!
//! [`Federation`] makes a throw-away PKI and one configuration per county in a temporary
//! directory, binds every listener on port 0, and runs each node either in this process (so it
//! can be stopped gracefully and restarted) or as a `liaison serve` child process (so it can be
//! killed for real). Tests talk to nodes the way their users do: operators through the admin
//! interface ([`Operator`]), and peers through the exchange service with a county's own TLS
//! identity and signing key ([`peer`]). Nothing waits a fixed time: conditions are polled with
//! [`eventually`] until they hold or a deadline passes. Tests of reply deadlines run every node on one
//! shared manual clock ([`FederationBuilder::manual_clock`]) set to fixed instants ([`cst`]).
//! Power-loss tests put nodes' data on a [`lazyfs::LazyFs`] mount, which forgets what was not
//! fsynced when the test cuts the power.

pub mod binary;
pub mod browser;
pub mod console;
pub mod cst;
pub mod drafts;
pub mod federation;
pub mod lazyfs;
pub mod names;
pub mod peer;
pub mod poll;

pub use federation::{AdminClient, Federation, FederationBuilder, Operator, TestNode, code};
pub use poll::{eventually, within};

/// 宝塔区, the first county of the test federations.
pub const BAOTA: &str = "610602";
/// 安塞区, the second county of the test federations.
pub const ANSAI: &str = "610603";
/// 延长县, the third county of the test federations.
pub const YANCHANG: &str = "610621";
/// Three Yan'an counties: code and name.
pub const THREE_COUNTIES: [(&str, &str); 3] =
    [(BAOTA, "宝塔区"), (ANSAI, "安塞区"), (YANCHANG, "延长县")];
