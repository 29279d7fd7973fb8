//! Exponential backoff with jitter for transient failures.

use std::time::Duration;

use rand::Rng;

/// How long a transiently failed job waits before its next attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Delay after the first failed attempt.
    pub base: Duration,
    /// Upper bound of any delay.
    pub max: Duration,
    /// Fraction of the delay added or removed at random (0.0..=1.0), so that jobs failing
    /// together do not retry together.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    /// 1 s, doubling, at most 10 minutes, ±20 %.
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max: Duration::from_secs(600),
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// The delay after failed attempt number `attempt` (from 1).
    pub fn delay(&self, attempt: i32) -> Duration {
        let exponent = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        let nominal = self
            .base
            .saturating_mul(2u32.saturating_pow(exponent))
            .min(self.max);
        let jitter = self.jitter.clamp(0.0, 1.0);
        if jitter == 0.0 {
            return nominal;
        }
        let factor = rand::rng().random_range((1.0 - jitter)..=(1.0 + jitter));
        nominal.mul_f64(factor).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_until_the_cap() {
        let policy = RetryPolicy {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
            jitter: 0.0,
        };
        let delays: Vec<_> = (1..=6).map(|a| policy.delay(a).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let policy = RetryPolicy {
            base: Duration::from_millis(1000),
            max: Duration::from_secs(60),
            jitter: 0.2,
        };
        for _ in 0..100 {
            let d = policy.delay(1).as_millis();
            assert!((800..=1200).contains(&d), "{d}");
        }
    }
}
