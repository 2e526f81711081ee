//! Waiting for a condition without blind sleeps: poll it until it holds, or fail at a deadline
//! with what was last seen.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How long [`eventually`] and [`within`] wait before they fail the test.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// How long [`eventually`] waits between two checks.
pub const INTERVAL: Duration = Duration::from_millis(25);

/// Runs `check` every [`INTERVAL`] until it returns `Ok`, and returns that value.
///
/// `check` returns `Err` with a description of what it saw while the condition does not hold
/// yet; if it still does not hold after [`DEADLINE`], the test fails naming `what` and the last
/// description.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + DEADLINE;
    let mut last = String::from("no check finished");
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, check()).await {
            Ok(Ok(value)) => return value,
            Ok(Err(seen)) => last = seen,
            Err(_) => last = format!("a check was still running at the deadline; before: {last}"),
        }
        if Instant::now() >= deadline {
            panic!("gave up after {DEADLINE:?} waiting for {what}; last seen: {last}");
        }
        tokio::time::sleep(INTERVAL).await;
    }
}

/// Awaits `future`, failing the test naming `what` if it takes longer than [`DEADLINE`].
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(DEADLINE, future).await {
        Ok(value) => value,
        Err(_) => panic!("{what} did not finish within {DEADLINE:?}"),
    }
}
