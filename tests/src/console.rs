//! The federation the console's browser tests sign in to: 宝塔区 with an operator and an auditor
//! account, and the address of its console.

use crate::federation::with_console_accounts;
use crate::{BAOTA, Federation, THREE_COUNTIES};

/// The operator account of 宝塔区's console: name and password.
pub const OPERATOR: (&str, &str) = ("wang", "operator-pass-1");
/// The auditor account of 宝塔区's console: name and password.
pub const AUDITOR: (&str, &str) = ("li", "auditor-pass-1");

/// Three counties; 宝塔区's console has the [`OPERATOR`] and [`AUDITOR`] accounts.
pub async fn federation() -> Federation {
    Federation::builder(&THREE_COUNTIES)
        .edit_config(BAOTA, |config| {
            with_console_accounts(
                config,
                &[
                    (OPERATOR.0, "operator", OPERATOR.1),
                    (AUDITOR.0, "auditor", AUDITOR.1),
                ],
            )
        })
        .start()
        .await
}

/// The address of 宝塔区's console, e.g. `http://127.0.0.1:41234`.
pub fn base(fed: &Federation) -> String {
    format!("http://{}", fed.node(BAOTA).admin_addr())
}

/// The name of the console's session cookie on `county`'s node: it carries the admin port, so that
/// two nodes on one machine keep their sessions apart.
pub fn session_cookie_name(fed: &Federation, county: &str) -> String {
    format!("liaison_console_{}", fed.node(county).admin_addr().port())
}
