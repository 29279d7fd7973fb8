//! Token-bucket rate limits on `/exp` writes (`POST`, `PUT`, `PATCH`, `DELETE`): one
//! bucket per client address group (IPv6 per prefix, see [`super::client::limit_group`])
//! and one for the whole process, both GCRA buckets from `governor`. A refused write is
//! 429 `rate_limited` with `Retry-After`, before any database work. Reads are free: front
//! ends poll a livelesson twice a second.
//!
//! The dashboard's sign-in with the admin token has a bucket of its own per address
//! ([`SIGN_IN_PER_MINUTE`]): guessing the token costs a guesser time, never an operator
//! their learners' write budget.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::settings::RateLimitSettings;
use super::surface::Surface;
use super::{ApiError, AppState};

/// Checks between two sweeps of the per-address buckets: buckets that refilled completely
/// are dropped then, so an attacker cycling through addresses cannot grow the map for long.
const SWEEP_EVERY: u64 = 4096;

/// Sign-in attempts one client address may make per minute (also the burst): plenty for
/// an operator, too few to guess a token.
pub const SIGN_IN_PER_MINUTE: u32 = 10;

/// The buckets of one process.
pub struct RateLimits {
    per_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
    global: Option<DefaultDirectRateLimiter>,
    sign_in: DefaultKeyedRateLimiter<IpAddr>,
    checks: AtomicU64,
    clock: DefaultClock,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("per_address", &self.per_address.is_some())
            .field("global", &self.global.is_some())
            .finish_non_exhaustive()
    }
}

impl RateLimits {
    /// Buckets for `settings`; a rate of 0 leaves that bucket out.
    pub fn new(settings: &RateLimitSettings) -> Arc<Self> {
        let quota = |per: Duration, count: u32, burst: u32| {
            let count = NonZeroU32::new(count)?;
            let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
            Quota::with_period(per / count.get()).map(|quota| quota.allow_burst(burst))
        };
        Arc::new(Self {
            per_address: quota(
                Duration::from_secs(60),
                settings.per_address_per_minute,
                settings.per_address_burst,
            )
            .map(RateLimiter::keyed),
            global: quota(
                Duration::from_secs(1),
                settings.global_per_second,
                settings.global_burst,
            )
            .map(RateLimiter::direct),
            sign_in: RateLimiter::keyed(
                Quota::per_minute(NonZeroU32::new(SIGN_IN_PER_MINUTE).unwrap_or(NonZeroU32::MIN))
                    .allow_burst(NonZeroU32::new(SIGN_IN_PER_MINUTE).unwrap_or(NonZeroU32::MIN)),
            ),
            checks: AtomicU64::new(0),
            clock: DefaultClock::default(),
        })
    }

    /// Takes a token for a write from `group` (unknown without connect info), or says
    /// how long until one is available.
    ///
    /// # Errors
    /// 429 `rate_limited` with `Retry-After`.
    pub fn check(&self, group: Option<IpAddr>) -> Result<(), ApiError> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1
            && let Some(limiter) = &self.per_address
        {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        // The address's bucket first: a client over its own limit must not also drain
        // the process's bucket that every other client shares.
        if let (Some(limiter), Some(group)) = (&self.per_address, group)
            && let Err(not_until) = limiter.check_key(&group)
        {
            let wait = not_until.wait_time_from(self.clock.now());
            return Err(refused("this client address", wait));
        }
        if let Some(limiter) = &self.global
            && let Err(not_until) = limiter.check()
        {
            let wait = not_until.wait_time_from(self.clock.now());
            return Err(refused("this server", wait));
        }
        Ok(())
    }

    /// Takes a token for a dashboard sign-in attempt from `group` (clients of unknown
    /// address share one bucket), or says in how many whole seconds one is available.
    ///
    /// # Errors
    /// The wait, in whole seconds (at least 1).
    pub fn check_sign_in(&self, group: Option<IpAddr>) -> Result<(), u64> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sign_in.retain_recent();
            self.sign_in.shrink_to_fit();
        }
        let key = group.unwrap_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED));
        self.sign_in
            .check_key(&key)
            .map_err(|not_until| whole_seconds(not_until.wait_time_from(self.clock.now())))
    }
}

/// `wait` in whole seconds, rounded up, at least 1: a client that waits as told finds a
/// token.
fn whole_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

fn refused(whose: &str, wait: Duration) -> ApiError {
    let seconds = whole_seconds(wait);
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many requests from {whose}; retry in {seconds} s"),
    )
    .with_retry_after(seconds)
}

/// Whether `request` is a write under `/exp`.
fn is_exp_write(request: &Request) -> bool {
    !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) && Surface::of(request.uri().path()) == Surface::Exp
}

/// Middleware: `/exp` writes spend a token of their address's bucket and of the global one.
pub async fn limit_writes(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if is_exp_write(&request) {
        let (parts, body) = request.into_parts();
        let group = super::client::client_of(&parts, &state)
            .map(|ip| super::client::limit_group(ip, state.ipv6_prefix_length));
        if let Err(error) = state.rate_limits.check(group) {
            return error.into_response();
        }
        return next.run(Request::from_parts(parts, body)).await;
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refuses_past_its_burst_and_names_the_wait() {
        let limits = RateLimits::new(&RateLimitSettings {
            per_address_per_minute: 60,
            per_address_burst: 2,
            global_per_second: 0,
            global_burst: 0,
        });
        let one: IpAddr = "192.0.2.1".parse().expect("ip");
        let other: IpAddr = "192.0.2.2".parse().expect("ip");
        assert!(limits.check(Some(one)).is_ok());
        assert!(limits.check(Some(one)).is_ok());
        let refused = limits.check(Some(one)).expect_err("over the burst");
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.code(), "rate_limited");
        // Another address has its own bucket; unknown clients only meet the global one.
        assert!(limits.check(Some(other)).is_ok());
        assert!(limits.check(None).is_ok());
    }
}
