//! Throttling of repeated authentication failures per remote address, with a
//! bounded table: SCIM credentials and console logins use the same one.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed SCIM authentications allowed per address per window.
pub const SCIM_FAILURES: u32 = 10;
/// Failed console logins allowed per address per window.
pub const LOGIN_FAILURES: u32 = 5;
/// Addresses tracked at most; past it, expired entries go, then the oldest.
const MAX_TRACKED: usize = 10_000;

/// SCIM authentication failures: 10 a minute per address.
pub struct ScimAuthThrottle(pub Throttle);

impl std::ops::Deref for ScimAuthThrottle {
    type Target = Throttle;
    fn deref(&self) -> &Throttle {
        &self.0
    }
}

impl Default for ScimAuthThrottle {
    fn default() -> Self {
        ScimAuthThrottle(Throttle::new(SCIM_FAILURES, Duration::from_secs(60)))
    }
}

/// Console login failures: 5 per 5 minutes per address.
pub struct LoginThrottle(pub Throttle);

impl std::ops::Deref for LoginThrottle {
    type Target = Throttle;
    fn deref(&self) -> &Throttle {
        &self.0
    }
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle(Throttle::new(LOGIN_FAILURES, Duration::from_secs(300)))
    }
}

/// Counts authentication failures per address in fixed windows.
pub struct Throttle {
    max_failures: u32,
    window: Duration,
    entries: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Throttle {
    /// A throttle allowing `max_failures` per `window` and address.
    pub fn new(max_failures: u32, window: Duration) -> Throttle {
        Throttle {
            max_failures,
            window,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds)` to wait when the address has failed too often.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(&ip) {
            Some((count, start))
                if *count >= self.max_failures && start.elapsed() < self.window =>
            {
                Err((self.window - start.elapsed()).as_secs().max(1))
            }
            _ => Ok(()),
        }
    }

    /// Records one failure.
    pub fn failure(&self, ip: IpAddr) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_TRACKED && !entries.contains_key(&ip) {
            let window = self.window;
            entries.retain(|_, (_, start)| start.elapsed() < window);
            // Still full of live entries (a spread-out attack): drop the oldest.
            if entries.len() >= MAX_TRACKED
                && let Some(oldest) = entries.iter().min_by_key(|(_, (_, s))| *s).map(|(k, _)| *k)
            {
                entries.remove(&oldest);
            }
        }
        let entry = entries.entry(ip).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.window {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    /// Forgets an address after a success.
    pub fn success(&self, ip: IpAddr) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(&ip);
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_limit_and_success_resets() {
        let t = ScimAuthThrottle::default().0;
        let ip: IpAddr = [127, 0, 0, 1].into();
        for _ in 0..SCIM_FAILURES {
            assert!(t.check(ip).is_ok());
            t.failure(ip);
        }
        assert!(t.check(ip).unwrap_err() >= 1);
        t.success(ip);
        assert!(t.check(ip).is_ok());
    }

    #[test]
    fn the_table_stays_bounded() {
        let t = LoginThrottle::default().0;
        for n in 0..(MAX_TRACKED as u32 + 50) {
            t.failure(IpAddr::from(n.to_be_bytes()));
        }
        assert_eq!(t.tracked(), MAX_TRACKED);
    }
}
