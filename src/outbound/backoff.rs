//! When to try an outbound message again.
//!
//! Guarantees: the delay doubles per attempt from `base` and never exceeds `max`; a platform's
//! demand (`Retry-After`, Telegram `retry_after`, Discord `retry_after`) wins when longer, but
//! is itself capped at [`MAX_RETRY_AFTER`] so a hostile or broken value cannot park a message
//! for days; no arithmetic overflows, whatever the attempt count.

use std::time::Duration;

/// Longest delay a platform may demand; a longer `Retry-After` is treated as this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

/// The retry policy (from `channels.outbound`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first failed attempt.
    pub base: Duration,
    /// Largest computed delay.
    pub max: Duration,
    /// Attempts in all; the one that fails last makes the row `failed`.
    pub max_attempts: u32,
}

/// What to do after a retryable failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try again after this long.
    RetryIn(Duration),
    /// That was the last attempt.
    GiveUp,
}

impl Backoff {
    /// The decision after attempt number `attempt` (1 for the first send) failed, given the
    /// platform's demand.
    #[must_use]
    pub fn after_failure(&self, attempt: u32, demanded: Option<Duration>) -> Next {
        if attempt >= self.max_attempts.max(1) {
            return Next::GiveUp;
        }
        let exponent = attempt.saturating_sub(1).min(32);
        let computed = self.base.saturating_mul(1u32 << exponent.min(31)).min(self.max);
        let demanded = demanded.map_or(Duration::ZERO, |d| d.min(MAX_RETRY_AFTER));
        Next::RetryIn(computed.max(demanded))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Backoff = Backoff { base: Duration::from_millis(100), max: Duration::from_secs(5), max_attempts: 5 };

    #[test]
    fn doubles_caps_and_gives_up() {
        let ms = |n: u32| match POLICY.after_failure(n, None) {
            Next::RetryIn(d) => Some(d.as_millis()),
            Next::GiveUp => None,
        };
        assert_eq!([ms(1), ms(2), ms(3), ms(4), ms(5)], [Some(100), Some(200), Some(400), Some(800), None]);
        let wide = Backoff { max_attempts: u32::MAX, ..POLICY };
        assert_eq!(wide.after_failure(40, None), Next::RetryIn(Duration::from_secs(5)));
        assert_eq!(wide.after_failure(u32::MAX - 1, None), Next::RetryIn(Duration::from_secs(5)));
    }

    #[test]
    fn platform_demand_wins_when_longer_and_is_capped() {
        assert_eq!(POLICY.after_failure(1, Some(Duration::from_secs(3))), Next::RetryIn(Duration::from_secs(3)));
        assert_eq!(POLICY.after_failure(3, Some(Duration::from_millis(10))), Next::RetryIn(Duration::from_millis(400)));
        assert_eq!(POLICY.after_failure(1, Some(Duration::from_secs(86_400))), Next::RetryIn(MAX_RETRY_AFTER));
        assert_eq!(POLICY.after_failure(5, Some(Duration::from_secs(1))), Next::GiveUp);
    }
}
