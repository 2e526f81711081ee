//! Writing notices on forms: one form per kind with Chinese labels (English beside), the letter
//! shown for confirmation before it is signed, one-time submission tokens, and the forms kept
//! for a clerk whose session ended while typing. The write page's handlers are in `write.rs`.

pub(crate) mod read;
pub(crate) mod render;
pub(crate) mod saved;
pub(crate) mod script;
pub(crate) mod spec;

use axum::http::{HeaderValue, header};
use axum::response::Response;
use liaison_core::{CountyCode, NoticeId, NoticeKind};

use read::Peer;

/// The Content-Security-Policy of the form pages: the console's, plus the forms' own script file.
const FORM_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; \
                        form-action 'self'; frame-ancestors 'none'";

/// Lets a console page load `/console/forms.js`, and nothing else more than other pages.
pub(crate) fn allow_form_script(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(FORM_CSP),
    );
    response
}

/// The received notice a reply answers.
#[derive(Debug, Clone)]
pub(crate) struct Original {
    pub(crate) id: NoticeId,
    pub(crate) sender: CountyCode,
    pub(crate) kind: NoticeKind,
    pub(crate) urgent: bool,
    /// Replies already sent to it.
    pub(crate) replies: Vec<NoticeId>,
    /// What it says; `None` if it cannot be read.
    pub(crate) body: Option<liaison_core::NoticeBody>,
}

/// What a page of writing is about: the kind, the notice answered, the counties to choose from,
/// and the one-time token that makes the notice sent at most once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Compose<'a> {
    pub(crate) kind: NoticeKind,
    pub(crate) reply: Option<&'a Original>,
    pub(crate) peers: &'a [Peer],
    pub(crate) token: &'a str,
}

/// The client key that names the notice sent with submission token `token`: a second send with
/// the same token finds the first notice instead of queuing another.
pub(crate) fn client_key(token: &str) -> String {
    format!("console-form:{token}")
}
