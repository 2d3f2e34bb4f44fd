//! Per-IP limits: a token-bucket request limiter and a failed-authentication lockout.
//!
//! Guarantees: memory is bounded by `max_tracked_ips` per table. When a table is full,
//! idle entries are pruned (at most once per [`PRUNE_INTERVAL`], so a flood of new
//! addresses cannot make every request scan the table); if it is still full the new
//! client is refused (429) rather than the table growing. IPv6 clients are keyed by their
//! /64, since one host commonly holds a whole /64 and could otherwise fill the table alone.
//! Time is passed in, so the rules are testable exactly.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Outcome of asking a limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead.
    Allow,
    /// Refuse; the client may retry after this long.
    Deny {
        /// Time until a retry can succeed.
        retry_after: Duration,
        /// Whether the refusal is because the table is full (not the client's own rate).
        table_full: bool,
    },
}

/// Shortest time between two prunes of a full table.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(1);

/// The table key for a client address: IPv4 as is (also when IPv4-mapped), IPv6 by /64.
#[must_use]
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
        v4 => v4,
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A token bucket per client IP: `capacity` requests refill over `window`.
#[derive(Debug)]
pub struct RateLimiter {
    buckets: HashMap<IpAddr, Bucket>,
    capacity: f64,
    per_second: f64,
    max_tracked: usize,
    last_prune: Option<Instant>,
}

impl RateLimiter {
    /// A limiter allowing `capacity` requests per `window` per IP.
    #[must_use]
    pub fn new(capacity: u32, window: Duration, max_tracked: usize) -> Self {
        let capacity = f64::from(capacity.max(1));
        let per_second = capacity / window.as_secs_f64().max(0.001);
        Self { buckets: HashMap::new(), capacity, per_second, max_tracked: max_tracked.max(1), last_prune: None }
    }

    /// Take one token for `ip` at `now`.
    pub fn check(&mut self, ip: IpAddr, now: Instant) -> Verdict {
        let ip = client_key(ip);
        if !self.buckets.contains_key(&ip) && self.buckets.len() >= self.max_tracked {
            if self.last_prune.is_none_or(|t| now.saturating_duration_since(t) >= PRUNE_INTERVAL) {
                self.last_prune = Some(now);
                self.prune(now);
            }
            if self.buckets.len() >= self.max_tracked {
                return Verdict::Deny { retry_after: Duration::from_secs(1), table_full: true };
            }
        }
        let capacity = self.capacity;
        let per_second = self.per_second;
        let bucket = self.buckets.entry(ip).or_insert(Bucket { tokens: capacity, last: now });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Verdict::Allow
        } else {
            let wait = (1.0 - bucket.tokens) / per_second;
            Verdict::Deny { retry_after: Duration::from_secs_f64(wait.max(0.001)), table_full: false }
        }
    }

    /// Drop buckets that have refilled completely (they hold no information).
    pub fn prune(&mut self, now: Instant) {
        let full_after = self.capacity / self.per_second;
        self.buckets.retain(|_, b| now.saturating_duration_since(b.last).as_secs_f64() < full_after);
    }

    /// IPs currently tracked.
    #[must_use]
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    window_start: Instant,
    locked_until: Option<Instant>,
}

/// Counts failed authentications per IP and locks an IP out after too many.
#[derive(Debug)]
pub struct AuthLimiter {
    entries: HashMap<IpAddr, Failures>,
    max_attempts: u32,
    window: Duration,
    lockout: Duration,
    max_tracked: usize,
    last_prune: Option<Instant>,
}

impl AuthLimiter {
    /// `max_attempts` failures within `window` lock the IP out for `lockout`.
    #[must_use]
    pub fn new(max_attempts: u32, window: Duration, lockout: Duration, max_tracked: usize) -> Self {
        Self {
            entries: HashMap::new(),
            max_attempts: max_attempts.max(1),
            window,
            lockout,
            max_tracked: max_tracked.max(1),
            last_prune: None,
        }
    }

    /// Whether `ip` is locked out at `now`.
    pub fn check(&mut self, ip: IpAddr, now: Instant) -> Verdict {
        match self.entries.get(&client_key(ip)).and_then(|f| f.locked_until) {
            Some(until) if until > now => Verdict::Deny { retry_after: until - now, table_full: false },
            _ => Verdict::Allow,
        }
    }

    /// Record a failure; returns the lockout verdict that now applies.
    pub fn record_failure(&mut self, ip: IpAddr, now: Instant) -> Verdict {
        let ip = client_key(ip);
        if !self.entries.contains_key(&ip) && self.entries.len() >= self.max_tracked {
            if self.last_prune.is_none_or(|t| now.saturating_duration_since(t) >= PRUNE_INTERVAL) {
                self.last_prune = Some(now);
                self.prune(now);
            }
            if self.entries.len() >= self.max_tracked {
                // Refuse rather than forget: a full table must not reset anyone's count.
                return Verdict::Deny { retry_after: self.window, table_full: true };
            }
        }
        let f = self.entries.entry(ip).or_insert(Failures { count: 0, window_start: now, locked_until: None });
        if now.saturating_duration_since(f.window_start) > self.window {
            f.count = 0;
            f.window_start = now;
        }
        f.count = f.count.saturating_add(1);
        if f.count >= self.max_attempts {
            let until = now + self.lockout;
            f.locked_until = Some(until);
            return Verdict::Deny { retry_after: self.lockout, table_full: false };
        }
        Verdict::Allow
    }

    /// Drop entries whose window and lockout have both passed.
    pub fn prune(&mut self, now: Instant) {
        let window = self.window;
        self.entries.retain(|_, f| {
            f.locked_until.is_some_and(|u| u > now) || now.saturating_duration_since(f.window_start) <= window
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills() {
        let t0 = Instant::now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mut rl = RateLimiter::new(2, Duration::from_secs(2), 10);
        assert_eq!(rl.check(ip, t0), Verdict::Allow);
        assert_eq!(rl.check(ip, t0), Verdict::Allow);
        assert!(matches!(rl.check(ip, t0), Verdict::Deny { table_full: false, .. }));
        assert_eq!(rl.check(ip, t0 + Duration::from_secs(1)), Verdict::Allow);
    }

    #[test]
    fn table_is_bounded() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(5, Duration::from_secs(60), 2);
        assert_eq!(rl.check("192.0.2.1".parse().unwrap(), t0), Verdict::Allow);
        assert_eq!(rl.check("192.0.2.2".parse().unwrap(), t0), Verdict::Allow);
        assert!(matches!(rl.check("192.0.2.3".parse().unwrap(), t0), Verdict::Deny { table_full: true, .. }));
        assert_eq!(rl.check("192.0.2.3".parse().unwrap(), t0 + Duration::from_secs(61)), Verdict::Allow);
        assert!(rl.tracked() <= 2);
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(1, Duration::from_secs(60), 10);
        assert_eq!(rl.check("2001:db8:1:2::1".parse().unwrap(), t0), Verdict::Allow);
        assert!(matches!(rl.check("2001:db8:1:2:ffff::9".parse().unwrap(), t0), Verdict::Deny { .. }));
        assert_eq!(rl.check("2001:db8:1:3::1".parse().unwrap(), t0), Verdict::Allow);
        assert_eq!(client_key("::ffff:192.0.2.1".parse().unwrap()), "192.0.2.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn lockout() {
        let t0 = Instant::now();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mut al = AuthLimiter::new(3, Duration::from_secs(60), Duration::from_secs(300), 10);
        assert_eq!(al.record_failure(ip, t0), Verdict::Allow);
        assert_eq!(al.record_failure(ip, t0), Verdict::Allow);
        assert!(matches!(al.record_failure(ip, t0), Verdict::Deny { .. }));
        assert!(matches!(al.check(ip, t0 + Duration::from_secs(299)), Verdict::Deny { .. }));
        assert_eq!(al.check(ip, t0 + Duration::from_secs(301)), Verdict::Allow);
    }
}
