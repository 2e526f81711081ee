//! Forms kept for a clerk whose session ended while typing: the fields of a form posted without
//! a signed-in session are kept in memory under a random id, for a while, and given back only to
//! an operator who signs in to this node in the same browser.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};

/// How long a kept form waits for its clerk to sign in again.
pub(crate) const KEEP_FOR: Duration = Duration::from_secs(2 * 60 * 60);
/// The most forms kept at once; the oldest goes first.
pub(crate) const MAX_KEPT: usize = 64;
/// The cookie that tells the browser's next sign-in which form to give back; the console's port
/// is added, because browsers share cookies between ports and two nodes may run on one machine.
const COOKIE: &str = "liaison_kept_form";

/// A form's fields by name.
type Fields = HashMap<String, String>;

/// The forms kept for clerks whose session ended, by id, with when they were kept.
#[derive(Debug, Default)]
pub(crate) struct KeptForms {
    inner: Mutex<HashMap<String, (Instant, Fields)>>,
}

/// A random id of 64 hex digits, or `None` without randomness.
pub(crate) fn random_id() -> Option<String> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).ok()?;
    Some(hex::encode(bytes))
}

/// Whether `text` has the shape of an id that [`random_id`] makes.
pub(crate) fn is_id(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

impl KeptForms {
    /// Keeps `fields` and answers with their id.
    pub(crate) fn keep(&self, mut fields: HashMap<String, String>) -> Option<String> {
        fields.remove("csrf");
        let id = random_id()?;
        let mut map = self.inner.lock().ok()?;
        let now = Instant::now();
        map.retain(|_, (at, _)| now.duration_since(*at) < KEEP_FOR);
        while map.len() >= MAX_KEPT {
            let oldest = map
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())?;
            map.remove(&oldest);
        }
        map.insert(id.clone(), (now, fields));
        Some(id)
    }

    /// Gives back the form kept under `id`, once.
    pub(crate) fn take(&self, id: &str) -> Option<HashMap<String, String>> {
        let mut map = self.inner.lock().ok()?;
        let (at, fields) = map.remove(id)?;
        (at.elapsed() < KEEP_FOR).then_some(fields)
    }
}

/// The name of the kept-form cookie of the console that `headers` were sent to.
pub(crate) fn cookie_name(headers: &HeaderMap) -> String {
    let port = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .and_then(|host| host.rsplit_once(':'))
        .map(|(_, port)| port)
        .filter(|port| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()));
    match port {
        Some(port) => format!("{COOKIE}_{port}"),
        None => COOKIE.to_owned(),
    }
}

/// The cookie that names the kept form `id` for the next sign-in.
pub(crate) fn kept_cookie(headers: &HeaderMap, id: &str) -> HeaderValue {
    let name = cookie_name(headers);
    HeaderValue::from_str(&format!(
        "{name}={id}; HttpOnly; SameSite=Strict; Path=/console; Max-Age={}",
        KEEP_FOR.as_secs()
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("liaison_kept_form=; Path=/console; Max-Age=0"))
}

/// The cookie that forgets the kept form.
pub(crate) fn forget_cookie(headers: &HeaderMap) -> HeaderValue {
    let name = cookie_name(headers);
    HeaderValue::from_str(&format!(
        "{name}=; HttpOnly; SameSite=Strict; Path=/console; Max-Age=0"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("liaison_kept_form=; Path=/console; Max-Age=0"))
}

/// The id of the kept form named by the request's cookie.
pub(crate) fn kept_id(headers: &HeaderMap) -> Option<String> {
    crate::console::sessions::cookie_value(headers, &cookie_name(headers)).filter(|v| is_id(v))
}

/// Whether a POST came from a page of this console: its `Origin` is the console's own, so a
/// form posted by another site cannot plant a draft for a clerk to send.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    match (host, origin) {
        (Some(host), Some(origin)) => origin == format!("http://{host}"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_form_is_given_back_once_without_its_csrf_token() {
        let kept = KeptForms::default();
        let fields: HashMap<String, String> = [("text", "复函"), ("csrf", "abc")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let id = kept.keep(fields).unwrap();
        assert!(is_id(&id));
        let back = kept.take(&id).unwrap();
        assert_eq!(back.get("text").map(String::as_str), Some("复函"));
        assert!(!back.contains_key("csrf"));
        assert!(kept.take(&id).is_none());
    }

    #[test]
    fn at_most_max_kept_forms_are_kept() {
        let kept = KeptForms::default();
        let first = kept.keep(HashMap::new()).unwrap();
        for _ in 0..MAX_KEPT {
            kept.keep(HashMap::new()).unwrap();
        }
        assert_eq!(kept.inner.lock().unwrap().len(), MAX_KEPT);
        assert!(kept.take(&first).is_none(), "the oldest went first");
    }

    #[test]
    fn the_kept_form_cookie_of_one_console_is_not_read_by_another_on_the_same_host() {
        let to = |host: &'static str, cookie: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, HeaderValue::from_static(host));
            h.insert(header::COOKIE, HeaderValue::from_str(cookie).unwrap());
            h
        };
        let id = "a".repeat(64);
        let first = to("127.0.0.1:7080", "");
        let set = kept_cookie(&first, &id);
        assert!(
            set.to_str()
                .unwrap()
                .starts_with(&format!("liaison_kept_form_7080={id};")),
            "{set:?}"
        );
        let cookie = format!("liaison_kept_form_7080={id}");
        assert_eq!(kept_id(&to("127.0.0.1:7080", &cookie)), Some(id.clone()));
        assert_eq!(kept_id(&to("127.0.0.1:7081", &cookie)), None);
        assert_eq!(
            kept_id(&to("127.0.0.1:7080", "liaison_kept_form_7080=short")),
            None
        );
    }

    #[test]
    fn only_a_post_from_the_console_itself_is_same_origin() {
        let headers = |origin: Option<&str>| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:9000"));
            if let Some(o) = origin {
                h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
            }
            h
        };
        assert!(same_origin(&headers(Some("http://127.0.0.1:9000"))));
        assert!(!same_origin(&headers(Some("http://evil.example"))));
        assert!(!same_origin(&headers(Some("null"))));
        assert!(!same_origin(&headers(None)));
    }
}
