//! Console accounts and sessions: argon2 password hashes, the in-memory sessions with their
//! CSRF tokens, and the session cookie.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::http::{HeaderMap, HeaderValue, header};
use subtle::ConstantTimeEq as _;

use crate::ops::Role;

/// The session cookie's name.
const COOKIE: &str = "liaison_console";
/// A session ends after this long without a request.
const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);

/// Why a console password could not be hashed, or why a `password_hash` is not one the console
/// accepts.
#[derive(Debug, thiserror::Error)]
pub enum PasswordHashError {
    /// The system gave no randomness for the salt.
    #[error("no randomness: {0}")]
    NoRandomness(getrandom::Error),
    /// argon2 could not encode the salt or hash the password.
    #[error("{0}")]
    Hashing(argon2::password_hash::Error),
    /// The text is not a PHC string.
    #[error("not a PHC password hash ({0}); make one with `liaison console hash-password`")]
    NotPhc(argon2::password_hash::Error),
    /// The PHC string names an algorithm other than argon2.
    #[error("algorithm {0:?} is not argon2; make one with `liaison console hash-password`")]
    NotArgon2(String),
}

/// Hashes a console password as an argon2id PHC string (for `[[console.accounts]] password_hash`).
pub fn hash_password(password: &str) -> Result<String, PasswordHashError> {
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt).map_err(PasswordHashError::NoRandomness)?;
    let salt = SaltString::encode_b64(&salt).map_err(PasswordHashError::Hashing)?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(PasswordHashError::Hashing)
}

/// Checks that `hash` is an argon2 PHC string such as `hash_password` makes.
pub fn check_password_hash(hash: &str) -> Result<(), PasswordHashError> {
    let parsed = PasswordHash::new(hash).map_err(PasswordHashError::NotPhc)?;
    match parsed.algorithm.as_str() {
        "argon2id" | "argon2i" | "argon2d" => Ok(()),
        other => Err(PasswordHashError::NotArgon2(other.to_owned())),
    }
}

/// Whether `password` is the one `hash` was made from.
pub(super) fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A signed-in account.
#[derive(Debug, Clone)]
pub(super) struct Account {
    pub(super) name: String,
    pub(super) role: Role,
}

/// A session: a signed-in account, or a sign-in page's form, with the CSRF token of its forms.
#[derive(Debug, Clone)]
pub(super) struct Session {
    /// `None` before sign-in: the session only carries the sign-in form's CSRF token.
    pub(super) account: Option<Account>,
    pub(super) csrf: String,
    expires: Instant,
}

/// The console's sessions, in memory.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    inner: Mutex<HashMap<String, Session>>,
}

fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    // Without randomness no session can be made safely; an empty id is refused below.
    if getrandom::getrandom(&mut bytes).is_err() {
        return String::new();
    }
    hex::encode(bytes)
}

impl Sessions {
    /// A new session for `account` (`None`: a sign-in page's), with its id.
    pub(super) fn create(&self, account: Option<Account>) -> Option<(String, Session)> {
        let id = random_hex();
        let csrf = random_hex();
        if id.is_empty() || csrf.is_empty() {
            return None;
        }
        let session = Session {
            account,
            csrf,
            expires: Instant::now() + SESSION_IDLE,
        };
        let mut map = self.inner.lock().ok()?;
        let now = Instant::now();
        map.retain(|_, s| s.expires > now);
        map.insert(id.clone(), session.clone());
        Some((id, session))
    }

    /// The live session `id`, its idle time renewed.
    pub(super) fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.inner.lock().ok()?;
        let now = Instant::now();
        let session = map.get_mut(id)?;
        if session.expires <= now {
            map.remove(id);
            return None;
        }
        session.expires = now + SESSION_IDLE;
        Some(session.clone())
    }

    pub(super) fn remove(&self, id: &str) {
        if let Ok(mut map) = self.inner.lock() {
            map.remove(id);
        }
    }
}

/// The session id from the request's cookie.
pub(super) fn cookie_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty())
}

/// The cookie that carries session `id`. `Secure` is left out on purpose: the console is served
/// over plain HTTP on the loopback interface only (the config refuses another admin address),
/// and browsers drop `Secure` cookies sent over plain HTTP. `HttpOnly` keeps it from scripts
/// and `SameSite=Strict` from requests started by other sites.
pub(super) fn session_cookie(id: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/console"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("liaison_console=; Path=/console"))
}

/// The cookie that ends the session in the browser.
pub(super) fn expired_cookie() -> HeaderValue {
    HeaderValue::from_static(
        "liaison_console=; HttpOnly; SameSite=Strict; Path=/console; Max-Age=0",
    )
}

impl Session {
    /// Whether `given` is this session's CSRF token, compared in constant time.
    pub(super) fn csrf_matches(&self, given: &str) -> bool {
        bool::from(given.as_bytes().ct_eq(self.csrf.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_made_hash_is_accepted_and_verifies_only_its_password() {
        let hash = hash_password("pass").unwrap();
        check_password_hash(&hash).unwrap();
        assert!(verify_password(&hash, "pass"));
        assert!(!verify_password(&hash, "other"));
    }

    #[test]
    fn a_hash_that_is_not_argon2_says_how_to_make_one() {
        let e = check_password_hash("plain text").unwrap_err();
        assert!(matches!(e, PasswordHashError::NotPhc(_)), "{e:?}");
        assert!(
            e.to_string().starts_with("not a PHC password hash (")
                && e.to_string()
                    .ends_with("); make one with `liaison console hash-password`"),
            "{e}"
        );
        let e =
            check_password_hash("$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo").unwrap_err();
        assert_eq!(
            e.to_string(),
            "algorithm \"pbkdf2-sha256\" is not argon2; make one with `liaison console hash-password`"
        );
    }

    #[test]
    fn only_the_sessions_own_csrf_token_matches() {
        let sessions = Sessions::default();
        let (_, session) = sessions.create(None).unwrap();
        assert!(session.csrf_matches(&session.csrf.clone()));
        assert!(!session.csrf_matches(""));
        assert!(!session.csrf_matches(&session.csrf[1..]));
        let mut other = session.csrf.clone().into_bytes();
        other[0] = if other[0] == b'0' { b'1' } else { b'0' };
        assert!(!session.csrf_matches(&String::from_utf8(other).unwrap()));
    }
}
