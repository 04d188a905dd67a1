//! Throttling of repeated authentication failures per remote address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed per address within one window before requests are refused.
pub const MAX_FAILURES: u32 = 10;
/// Length of the counting window.
pub const WINDOW: Duration = Duration::from_secs(60);
const MAX_TRACKED: usize = 10_000;

/// Counts authentication failures per address in fixed windows.
#[derive(Default)]
pub struct AuthThrottle {
    entries: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl AuthThrottle {
    /// `Err(seconds)` to wait when the address has failed too often.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(&ip) {
            Some((count, start)) if *count >= MAX_FAILURES && start.elapsed() < WINDOW => {
                Err((WINDOW - start.elapsed()).as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    /// Records one failure.
    pub fn failure(&self, ip: IpAddr) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_TRACKED {
            entries.retain(|_, (_, start)| start.elapsed() < WINDOW);
        }
        let entry = entries.entry(ip).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    /// Forgets an address after a success.
    pub fn success(&self, ip: IpAddr) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_limit_and_success_resets() {
        let t = AuthThrottle::default();
        let ip: IpAddr = [127, 0, 0, 1].into();
        for _ in 0..MAX_FAILURES {
            assert!(t.check(ip).is_ok());
            t.failure(ip);
        }
        assert!(t.check(ip).unwrap_err() >= 1);
        t.success(ip);
        assert!(t.check(ip).is_ok());
    }
}
