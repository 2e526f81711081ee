//! Rate-limited logging of refusals: one WARN line per client and interval, which also says how
//! many refusals went unlogged before it, so that a flood of bad envelopes does not become a flood
//! of log lines. The metrics count every refusal.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How often one client's refusals are logged at most.
pub(crate) const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Clients kept track of before those whose interval is over are forgotten.
const TRACKED_CLIENTS: usize = 4096;

/// Which refusals to log, per client.
#[derive(Debug)]
pub(crate) struct RefusalLog {
    interval: Duration,
    clients: Mutex<HashMap<[u8; 32], Window>>,
}

#[derive(Debug)]
struct Window {
    logged_at: Instant,
    unlogged: u64,
}

impl RefusalLog {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            clients: Mutex::default(),
        }
    }

    /// `Some(n)` when this refusal of `client`'s should be logged, `n` being how many of its
    /// refusals were not logged since the last line; `None` when it should only be counted.
    pub(crate) fn should_log(&self, client: [u8; 32], now: Instant) -> Option<u64> {
        let mut clients = crate::lock(&self.clients);
        if let Some(window) = clients.get_mut(&client) {
            if now.duration_since(window.logged_at) < self.interval {
                window.unlogged += 1;
                return None;
            }
            let unlogged = window.unlogged;
            *window = Window {
                logged_at: now,
                unlogged: 0,
            };
            return Some(unlogged);
        }
        if clients.len() >= TRACKED_CLIENTS {
            let interval = self.interval;
            clients.retain(|_, w| now.duration_since(w.logged_at) < interval);
        }
        clients.insert(
            client,
            Window {
                logged_at: now,
                unlogged: 0,
            },
        );
        Some(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_logged_once_per_interval_and_told_how_many_were_not() {
        let log = RefusalLog::new(Duration::from_secs(60));
        let start = Instant::now();
        let (a, b) = ([1; 32], [2; 32]);
        assert_eq!(log.should_log(a, start), Some(0));
        for i in 1..=5 {
            assert_eq!(log.should_log(a, start + Duration::from_secs(i)), None);
        }
        assert_eq!(
            log.should_log(b, start + Duration::from_secs(1)),
            Some(0),
            "another client has its own interval"
        );
        assert_eq!(log.should_log(a, start + Duration::from_secs(60)), Some(5));
        assert_eq!(log.should_log(a, start + Duration::from_secs(61)), None);
    }
}
