//! Console accounts and sessions: argon2 password hashes, the in-memory sessions with their
//! CSRF tokens, the session cookie (named after the admin listener's port, so that two nodes on
//! one machine keep their own), the throttling of failed sign-ins, and the admin addresses a
//! request's `Host` may name.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::http::{HeaderMap, HeaderValue, header};
use subtle::ConstantTimeEq as _;

use crate::ops::Role;

/// The start of the session cookie's name; the admin listener's port follows it, because
/// browsers send a host's cookies to every port of it.
const COOKIE_PREFIX: &str = "liaison_console_";
/// A session ends after this long without a request.
const SESSION_IDLE: Duration = Duration::from_secs(30 * 60);
/// Failed sign-ins under one account name before each further attempt must wait.
pub(super) const ACCOUNT_FREE_FAILURES: u32 = 5;
/// Failed sign-ins from one client address, whatever the names, before each further attempt
/// must wait. Higher than per account: every console user comes from the loopback address (on
/// the server or through an SSH tunnel), and one clerk's typing errors should not lock out the
/// others, while trying many names is still held back.
pub(super) const ADDRESS_FREE_FAILURES: u32 = 20;
/// The wait after the free failures; it doubles with every further failure.
const FIRST_WAIT_MS: i64 = 30_000;
/// The longest wait between two attempts.
const MAX_WAIT_MS: i64 = 15 * 60_000;
/// Failures older than this are forgotten.
const FORGET_FAILURES_MS: i64 = 60 * 60_000;
/// The most names and addresses whose failures are kept; beyond it the oldest are forgotten, so
/// that guessing many names cannot fill the memory (the address still waits).
const MAX_FAILURE_KEYS: usize = 10_000;

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

/// The console's sessions, in memory, and what the sign-in page needs besides.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    inner: Mutex<HashMap<String, Session>>,
    /// A random id of this run of the node, the first part of every session cookie: a cookie
    /// with another one was issued before a restart.
    boot: OnceLock<String>,
    site: OnceLock<Site>,
    failures: Mutex<HashMap<String, Failures>>,
    /// An argon2 hash of a random password, checked for unknown account names so that they take
    /// as long to refuse as known ones.
    dummy_hash: OnceLock<String>,
}

/// Where the console is served: the cookie name and the `Host` values it answers to.
#[derive(Debug)]
struct Site {
    cookie: String,
    hosts: Vec<String>,
}

/// Failed sign-ins under one key (an account name or a client address).
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last_ms: i64,
}

/// What a request's session cookie leads to.
#[derive(Debug)]
pub(super) enum Lookup {
    /// No session cookie at all.
    None,
    /// A live session.
    Live,
    /// A cookie from before the node restarted.
    Restarted,
    /// A cookie of this run whose session ended (idle too long, or signed out elsewhere).
    Ended,
}

/// What failed sign-ins are counted under: an account name or a client address, with the
/// failures it is allowed before attempts must wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ThrottleKey {
    key: String,
    free: u32,
}

impl ThrottleKey {
    pub(super) fn account(name: &str) -> Self {
        Self {
            key: format!("account:{name}"),
            free: ACCOUNT_FREE_FAILURES,
        }
    }

    pub(super) fn address(address: &str) -> Self {
        Self {
            key: format!("address:{address}"),
            free: ADDRESS_FREE_FAILURES,
        }
    }
}

/// How long sign-in attempts must wait after `failures` failures under a key that allows `free`
/// of them, in ms.
pub(super) fn wait_after_ms(failures: u32, free: u32) -> i64 {
    if failures < free {
        return 0;
    }
    let doublings = (failures - free).min(20);
    FIRST_WAIT_MS
        .saturating_mul(1 << doublings)
        .min(MAX_WAIT_MS)
}

/// The `Host` values that name the admin listener at `addr`: its address, and `localhost`
/// with its port when it listens on loopback.
pub(super) fn admin_hosts(addr: SocketAddr) -> Vec<String> {
    let mut hosts = vec![addr.to_string()];
    if addr.ip().is_loopback() {
        hosts.push(format!("localhost:{}", addr.port()));
    }
    hosts
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
    /// Sets where the console is served: the admin listener's bound address.
    pub(crate) fn serve_at(&self, addr: SocketAddr) {
        let _ = self.site.set(Site {
            cookie: format!("{COOKIE_PREFIX}{}", addr.port()),
            hosts: admin_hosts(addr),
        });
    }

    /// The session cookie's name.
    pub(super) fn cookie_name(&self) -> &str {
        self.site
            .get()
            .map_or("liaison_console", |s| s.cookie.as_str())
    }

    /// Whether `host` (a `Host` header or an `:authority`) names the admin listener.
    pub(super) fn host_allowed(&self, host: &str) -> bool {
        self.site
            .get()
            .is_none_or(|s| s.hosts.iter().any(|h| h.eq_ignore_ascii_case(host)))
    }

    /// The admin address to name in a refusal.
    pub(super) fn admin_host(&self) -> &str {
        self.site
            .get()
            .and_then(|s| s.hosts.first())
            .map_or("", String::as_str)
    }

    fn boot(&self) -> &str {
        let boot = self.boot.get_or_init(random_hex);
        &boot[..16.min(boot.len())]
    }

    /// The cookie value of session `id`.
    fn cookie_value(&self, id: &str) -> String {
        format!("{}.{id}", self.boot())
    }

    /// The session a request's cookie names, or why there is none.
    pub(super) fn lookup(&self, headers: &HeaderMap) -> Lookup {
        let Some(value) = cookie_value(headers, self.cookie_name()) else {
            return Lookup::None;
        };
        match value.split_once('.') {
            Some((boot, id)) if boot == self.boot() => match self.get(id) {
                Some(_) => Lookup::Live,
                None => Lookup::Ended,
            },
            _ => Lookup::Restarted,
        }
    }

    /// The session id of a request's cookie, if it names a session of this run.
    pub(super) fn cookie_id(&self, headers: &HeaderMap) -> Option<String> {
        let value = cookie_value(headers, self.cookie_name())?;
        let (boot, id) = value.split_once('.')?;
        (boot == self.boot()).then(|| id.to_owned())
    }

    /// The cookie that carries session `id`. `Secure` is left out on purpose: the console is
    /// served over plain HTTP on the loopback interface only (the config refuses another admin
    /// address), and browsers drop `Secure` cookies sent over plain HTTP. `HttpOnly` keeps it
    /// from scripts and `SameSite=Strict` from requests started by other sites.
    pub(super) fn session_cookie(&self, id: &str) -> HeaderValue {
        HeaderValue::from_str(&format!(
            "{}={}; HttpOnly; SameSite=Strict; Path=/console",
            self.cookie_name(),
            self.cookie_value(id)
        ))
        .unwrap_or_else(|_| HeaderValue::from_static("liaison_console=; Path=/console"))
    }

    /// The cookie that ends the session in the browser.
    pub(super) fn expired_cookie(&self) -> HeaderValue {
        HeaderValue::from_str(&format!(
            "{}=; HttpOnly; SameSite=Strict; Path=/console; Max-Age=0",
            self.cookie_name()
        ))
        .unwrap_or_else(|_| HeaderValue::from_static("liaison_console=; Path=/console"))
    }

    /// How many ms sign-in under any of `keys` must still wait at `now_ms` (0: it may try now).
    pub(super) fn wait_ms(&self, keys: &[ThrottleKey], now_ms: i64) -> i64 {
        let Ok(failures) = self.failures.lock() else {
            return 0;
        };
        keys.iter()
            .filter_map(|k| Some((k, failures.get(&k.key)?)))
            .map(|(k, f)| (f.last_ms + wait_after_ms(f.count, k.free) - now_ms).max(0))
            .max()
            .unwrap_or(0)
    }

    /// Counts a failed sign-in under each of `keys`.
    pub(super) fn failed(&self, keys: &[ThrottleKey], now_ms: i64) {
        if let Ok(mut failures) = self.failures.lock() {
            if failures.len() + keys.len() > MAX_FAILURE_KEYS {
                failures.retain(|_, f| now_ms - f.last_ms < FORGET_FAILURES_MS);
            }
            while failures.len() + keys.len() > MAX_FAILURE_KEYS {
                let oldest = failures
                    .iter()
                    .filter(|(key, _)| !keys.iter().any(|k| &k.key == *key))
                    .min_by_key(|(_, f)| f.last_ms)
                    .map(|(key, _)| key.clone());
                match oldest {
                    Some(key) => failures.remove(&key),
                    None => break,
                };
            }
            for k in keys {
                let f = failures.entry(k.key.clone()).or_insert(Failures {
                    count: 0,
                    last_ms: now_ms,
                });
                if now_ms - f.last_ms >= FORGET_FAILURES_MS {
                    f.count = 0;
                }
                f.count = f.count.saturating_add(1);
                f.last_ms = now_ms;
            }
        }
    }

    /// Forgets the failures under `key` after a successful sign-in.
    pub(super) fn succeeded(&self, key: &ThrottleKey) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&key.key);
        }
    }

    /// The dummy hash, made on first use (it costs as much as a sign-in).
    pub(super) fn dummy_hash(&self) -> &str {
        self.dummy_hash
            .get_or_init(|| hash_password(&random_hex()).unwrap_or_default())
    }

    /// Whether `password` is that of an account with `hash`; for an unknown account (`None`)
    /// the same work is done against a dummy hash, and the answer is no.
    pub(super) fn verify(&self, hash: Option<&str>, password: &str) -> bool {
        match hash {
            Some(hash) => verify_password(hash, password),
            None => {
                let _ = verify_password(self.dummy_hash(), password);
                false
            }
        }
    }

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

/// The value of cookie `name` in a request.
pub(super) fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty())
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
    fn sign_in_waits_grow_after_the_free_failures_up_to_fifteen_minutes() {
        let free = ACCOUNT_FREE_FAILURES;
        assert_eq!(wait_after_ms(0, free), 0);
        assert_eq!(wait_after_ms(free - 1, free), 0);
        assert_eq!(wait_after_ms(free, free), 30_000);
        assert_eq!(wait_after_ms(free + 1, free), 60_000);
        assert_eq!(wait_after_ms(free + 2, free), 120_000);
        assert_eq!(wait_after_ms(free + 10, free), MAX_WAIT_MS);
        assert_eq!(wait_after_ms(u32::MAX, free), MAX_WAIT_MS);
        assert_eq!(wait_after_ms(free, ADDRESS_FREE_FAILURES), 0);
    }

    #[test]
    fn five_failures_throttle_the_account_and_twenty_the_address_until_the_wait_is_over() {
        let sessions = Sessions::default();
        let (wang, li) = (ThrottleKey::account("wang"), ThrottleKey::account("li"));
        let address = ThrottleKey::address("127.0.0.1");
        let mut now = 1_000;
        for _ in 0..ACCOUNT_FREE_FAILURES {
            assert_eq!(sessions.wait_ms(&[wang.clone(), address.clone()], now), 0);
            sessions.failed(&[wang.clone(), address.clone()], now);
            now += 1;
        }
        let last = now - 1;
        assert_eq!(
            sessions.wait_ms(&[wang.clone(), address.clone()], last),
            30_000
        );
        assert_eq!(
            sessions.wait_ms(std::slice::from_ref(&wang), last + 10_000),
            20_000
        );
        // Another account from the same address may still try.
        assert_eq!(sessions.wait_ms(&[li.clone(), address.clone()], last), 0);
        assert_eq!(
            sessions.wait_ms(std::slice::from_ref(&wang), last + 30_000),
            0
        );
        // An hour later the failures are forgotten: one more does not make it wait.
        sessions.failed(std::slice::from_ref(&wang), last + FORGET_FAILURES_MS);
        assert_eq!(
            sessions.wait_ms(std::slice::from_ref(&wang), last + FORGET_FAILURES_MS),
            0
        );
        sessions.failed(std::slice::from_ref(&wang), now);
        sessions.succeeded(&wang);
        assert_eq!(sessions.wait_ms(std::slice::from_ref(&wang), last), 0);
        // Many names from one address: the address waits.
        for n in 0..ADDRESS_FREE_FAILURES - ACCOUNT_FREE_FAILURES {
            let name = ThrottleKey::account(&format!("guess-{n}"));
            sessions.failed(&[name, address.clone()], now);
        }
        assert_eq!(sessions.wait_ms(&[li, address.clone()], now), 30_000);
        // Ever more names: the oldest are forgotten, the address keeps waiting.
        for n in 0..MAX_FAILURE_KEYS {
            let name = ThrottleKey::account(&format!("more-{n}"));
            sessions.failed(&[name, address.clone()], now + 1);
        }
        assert!(sessions.failures.lock().unwrap().len() <= MAX_FAILURE_KEYS);
        assert!(sessions.wait_ms(std::slice::from_ref(&address), now + 1) > 0);
    }

    #[test]
    fn the_cookie_is_named_after_the_port_and_a_cookie_of_an_earlier_run_is_told_apart() {
        let sessions = Sessions::default();
        sessions.serve_at("127.0.0.1:7080".parse().unwrap());
        assert_eq!(sessions.cookie_name(), "liaison_console_7080");
        assert!(sessions.host_allowed("127.0.0.1:7080"));
        assert!(sessions.host_allowed("LOCALHOST:7080"));
        assert!(!sessions.host_allowed("evil.example:7080"));
        assert!(!sessions.host_allowed("127.0.0.1:7081"));
        let (id, _) = sessions.create(None).unwrap();
        let cookie = sessions.session_cookie(&id);
        let pair = cookie
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(&pair).unwrap());
        assert!(matches!(sessions.lookup(&headers), Lookup::Live));
        let restarted = Sessions::default();
        restarted.serve_at("127.0.0.1:7080".parse().unwrap());
        assert!(matches!(restarted.lookup(&headers), Lookup::Restarted));
        sessions.remove(&id);
        assert!(matches!(sessions.lookup(&headers), Lookup::Ended));
        assert!(matches!(sessions.lookup(&HeaderMap::new()), Lookup::None));
    }

    #[test]
    fn an_unknown_account_is_refused_after_the_same_work() {
        let sessions = Sessions::default();
        assert!(!sessions.verify(None, "pass"));
        let hash = hash_password("pass").unwrap();
        assert!(sessions.verify(Some(&hash), "pass"));
        assert!(sessions.dummy_hash.get().is_some_and(|h| !h.is_empty()));
        // Same work: the fastest of a few checks of each, taken in turns so that both see the
        // same load, takes about as long.
        let time = |hash: Option<&str>| {
            let started = Instant::now();
            sessions.verify(hash, "wrong");
            started.elapsed()
        };
        let (mut unknown, mut known) = (Duration::MAX, Duration::MAX);
        for _ in 0..5 {
            unknown = unknown.min(time(None));
            known = known.min(time(Some(&hash)));
        }
        assert!(
            unknown * 2 >= known && known * 2 >= unknown,
            "unknown {unknown:?}, known {known:?}"
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
