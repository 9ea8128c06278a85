//! Rate limiting of failed logins, per user and client address.
//!
//! After `max_failures` failed attempts for one `(username, address)` within `window`, further
//! attempts for that pair are refused (without checking the password) until the window that
//! began with the first failure has passed. A success clears the pair's count.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Default failures allowed per user and address within [`DEFAULT_WINDOW`].
pub const DEFAULT_MAX_FAILURES: u32 = 10;
/// Default window of the failure count.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(300);
/// Pairs tracked at most (older windows are dropped first).
const MAX_TRACKED: usize = 100_000;

struct Failures {
    count: u32,
    since: Instant,
}

/// Counts failed logins per `(username, address)`.
pub struct LoginLimiter {
    max_failures: u32,
    window: Duration,
    map: Mutex<HashMap<(String, String), Failures>>,
}

impl LoginLimiter {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures: max_failures.max(1),
            window,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Failures>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Err(retry_after)` when this pair has failed too often in the current window.
    pub fn check(&self, username: &str, address: &str) -> Result<(), Duration> {
        let map = self.lock();
        match map.get(&(username.to_owned(), address.to_owned())) {
            Some(f) if f.count >= self.max_failures => {
                let elapsed = f.since.elapsed();
                if elapsed < self.window {
                    Err(self.window - elapsed)
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// Count one failed attempt.
    pub fn record_failure(&self, username: &str, address: &str) {
        let now = Instant::now();
        let mut map = self.lock();
        if map.len() >= MAX_TRACKED {
            let window = self.window;
            map.retain(|_, f| now.duration_since(f.since) < window);
        }
        let f = map
            .entry((username.to_owned(), address.to_owned()))
            .or_insert(Failures {
                count: 0,
                since: now,
            });
        if now.duration_since(f.since) >= self.window {
            *f = Failures {
                count: 0,
                since: now,
            };
        }
        f.count = f.count.saturating_add(1);
    }

    /// A successful login clears the pair's failures.
    pub fn record_success(&self, username: &str, address: &str) {
        self.lock()
            .remove(&(username.to_owned(), address.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_too_many_failures_per_pair() {
        let l = LoginLimiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(l.check("ann", "10.0.0.1").is_ok());
            l.record_failure("ann", "10.0.0.1");
        }
        let retry = l.check("ann", "10.0.0.1").expect_err("blocked");
        assert!(retry <= Duration::from_secs(60));
        assert!(l.check("ann", "10.0.0.2").is_ok(), "another address");
        assert!(l.check("bob", "10.0.0.1").is_ok(), "another user");
        l.record_success("ann", "10.0.0.1");
        assert!(l.check("ann", "10.0.0.1").is_ok());
    }

    #[test]
    fn the_window_passes() {
        let l = LoginLimiter::new(1, Duration::from_millis(1));
        l.record_failure("ann", "a");
        std::thread::sleep(Duration::from_millis(5));
        assert!(l.check("ann", "a").is_ok());
    }
}
