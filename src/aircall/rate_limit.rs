//! The one request budget shared by everything that calls the Aircall API.
//!
//! Aircall limits requests per *company* (60 a minute in older documents,
//! 120 in newer ones; we budget for 60 unless told otherwise), and every
//! integration installed on the account draws from the same pool. So there
//! is exactly one [`RateLimiter`] per company, cloned into every user.
//!
//! It is a token bucket refilled at `per_minute / 60` tokens a second with
//! two priorities: [`Priority::Urgent`] work (transfers, the start-up ping)
//! may take any token, while [`Priority::Background`] work (directory and
//! availability refreshes, tags, comments) may only take tokens above a
//! reserve and never while urgent work is waiting. A transfer therefore
//! never queues behind a refresh.
//!
//! The server's word beats our arithmetic: a 429, or `X-AircallApi-Remaining:
//! 0`, pauses everyone until `X-AircallApi-Reset` (UNIX seconds; values that
//! can only be milliseconds are read as such), and a lower `Remaining` than
//! our own count lowers it.
//!
//! This module does no I/O: it only counts and waits (on tokio's clock, so
//! tests run it with paused time).

use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Budget settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Requests a minute this service may send (the company's budget).
    pub per_minute: u32,
    /// Tokens only urgent work may use. Clamped below `per_minute`.
    pub reserve: u32,
    /// Pause after a 429 that does not say when the counter resets.
    pub default_pause: Duration,
    /// Longest pause a reset header can impose (protects against a bogus
    /// or far-future timestamp freezing the service).
    pub max_pause: Duration,
}

impl RateLimitConfig {
    /// A budget of `per_minute` requests with a sixth of it reserved for
    /// urgent work (10 of 60).
    pub fn per_minute(per_minute: u32) -> RateLimitConfig {
        RateLimitConfig {
            per_minute,
            reserve: per_minute / 6,
            ..RateLimitConfig::default()
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            per_minute: 60,
            reserve: 10,
            default_pause: Duration::from_secs(5),
            max_pause: Duration::from_secs(120),
        }
    }
}

/// Who is asking for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Priority {
    /// Transfers and the credential check: may use the whole budget.
    Urgent,
    /// Refreshes and annotations: only tokens above the reserve, and only
    /// when no urgent request is waiting.
    Background,
}

/// The budget would not allow the request before its deadline, so it was
/// not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no request budget before the deadline (next token in {ready_in:?})")]
pub struct NoBudget {
    /// How long until a token would have been available.
    pub ready_in: Duration,
}

/// The rate-limit headers of one Aircall response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateHeaders {
    /// `X-AircallApi-Limit`.
    pub limit: Option<u32>,
    /// `X-AircallApi-Remaining`.
    pub remaining: Option<u32>,
    /// `X-AircallApi-Reset`, as an instant.
    pub reset: Option<DateTime<Utc>>,
}

impl RateHeaders {
    /// Reads the three headers; absent or unreadable ones are `None`
    /// (Aircall may send them only once the limit is reached).
    pub fn from_headers(headers: &HeaderMap) -> RateHeaders {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        RateHeaders {
            limit: text("x-aircallapi-limit").and_then(|v| v.trim().parse().ok()),
            remaining: text("x-aircallapi-remaining").and_then(|v| v.trim().parse().ok()),
            reset: text("x-aircallapi-reset").and_then(parse_reset),
        }
    }
}

/// Reads `X-AircallApi-Reset`: UNIX seconds per the reference, but its
/// unit is not stated, so a value that can only be milliseconds (after the
/// year 5138 as seconds) is read as milliseconds. Fractions are accepted.
pub fn parse_reset(value: &str) -> Option<DateTime<Utc>> {
    let number: f64 = value.trim().parse().ok()?;
    if !number.is_finite() || number <= 0.0 {
        return None;
    }
    let millis = if number > 100_000_000_000.0 {
        number
    } else {
        number * 1000.0
    };
    // Truncation is intended: sub-millisecond precision is meaningless here.
    #[expect(
        clippy::cast_possible_truncation,
        reason = "finite, positive, checked above"
    )]
    DateTime::from_timestamp_millis(millis as i64)
}

/// What the limiter currently believes, for `/status`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimiterStatus {
    /// Whole tokens in the bucket now.
    pub tokens: u32,
    /// Time left of a server-imposed pause, if one is active.
    pub paused_for: Option<Duration>,
    /// Urgent requests waiting for a token.
    pub urgent_waiting: usize,
}

/// The shared, per-company request budget. Cloning shares the budget.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: RateLimitConfig,
    state: Mutex<State>,
    /// Woken whenever tokens or pauses change in a way a waiter may care
    /// about (a pause set or lifted, an urgent waiter leaving).
    changed: Notify,
}

#[derive(Debug)]
struct State {
    tokens: f64,
    refilled_at: Instant,
    paused_until: Option<Instant>,
    urgent_waiting: usize,
}

impl RateLimiter {
    /// A limiter whose bucket starts full.
    pub fn new(config: RateLimitConfig) -> RateLimiter {
        let per_minute = config.per_minute.max(1);
        let config = RateLimitConfig {
            per_minute,
            reserve: config.reserve.min(per_minute - 1),
            ..config
        };
        RateLimiter {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    tokens: f64::from(per_minute),
                    refilled_at: Instant::now(),
                    paused_until: None,
                    urgent_waiting: 0,
                }),
                config,
                changed: Notify::new(),
            }),
        }
    }

    /// The effective settings (after clamping).
    pub fn config(&self) -> &RateLimitConfig {
        &self.inner.config
    }

    /// Waits for a token. With a `deadline`, gives up as soon as it is
    /// clear that no token will be available before it (the request is then
    /// not sent at all). Cancel-safe: dropping the future takes no token.
    pub async fn acquire(
        &self,
        priority: Priority,
        deadline: Option<Instant>,
    ) -> Result<(), NoBudget> {
        let mut waiting = None;
        loop {
            // Register for wake-ups before looking at the state, so a change
            // between the look and the wait is not missed.
            let mut notified = pin!(self.inner.changed.notified());
            notified.as_mut().enable();
            let now = Instant::now();
            let wake_at = {
                let mut state = self.lock();
                self.refill(&mut state, now);
                match self.try_take(&mut state, priority, now) {
                    Ok(()) => return Ok(()),
                    Err(wake_at) => wake_at,
                }
            };
            if let Some(deadline) = deadline {
                if wake_at > deadline {
                    return Err(NoBudget {
                        ready_in: wake_at.saturating_duration_since(now),
                    });
                }
            }
            if priority == Priority::Urgent && waiting.is_none() {
                waiting = Some(UrgentWaiting::new(self));
            }
            tokio::select! {
                () = tokio::time::sleep_until(wake_at) => {}
                () = notified => {}
            }
        }
    }

    /// Takes a token without waiting, if one is available now.
    pub fn try_acquire(&self, priority: Priority) -> bool {
        let now = Instant::now();
        let mut state = self.lock();
        self.refill(&mut state, now);
        self.try_take(&mut state, priority, now).is_ok()
    }

    /// Takes what a response says about the company's budget into account.
    /// `too_many` is true for a 429. `now` is the wall clock the reset
    /// timestamp is compared with.
    pub fn observe(&self, too_many: bool, headers: &RateHeaders, now: DateTime<Utc>) {
        let reset_in = headers
            .reset
            .and_then(|reset| (reset - now).to_std().ok())
            .filter(|wait| !wait.is_zero())
            .map(|wait| wait.min(self.inner.config.max_pause));
        let pause = if too_many {
            Some(reset_in.unwrap_or(self.inner.config.default_pause))
        } else if headers.remaining == Some(0) {
            reset_in
        } else {
            None
        };
        let mut state = self.lock();
        if let Some(remaining) = headers.remaining {
            state.tokens = state.tokens.min(f64::from(remaining));
        }
        if let Some(pause) = pause {
            state.tokens = 0.0;
            let until = Instant::now() + pause;
            if state.paused_until.is_none_or(|current| current < until) {
                state.paused_until = Some(until);
            }
            drop(state);
            self.inner.changed.notify_waiters();
        }
    }

    /// What the limiter believes now.
    pub fn status(&self) -> LimiterStatus {
        let now = Instant::now();
        let mut state = self.lock();
        self.refill(&mut state, now);
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "0 <= tokens <= per_minute"
        )]
        let tokens = state.tokens.floor() as u32;
        LimiterStatus {
            tokens,
            paused_for: state
                .paused_until
                .map(|until| until.saturating_duration_since(now))
                .filter(|left| !left.is_zero()),
            urgent_waiting: state.urgent_waiting,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is plain numbers, consistent after every statement, so
        // a panic elsewhere while holding the lock leaves nothing half-done.
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn rate_per_second(&self) -> f64 {
        f64::from(self.inner.config.per_minute) / 60.0
    }

    fn refill(&self, state: &mut State, now: Instant) {
        let elapsed = now.saturating_duration_since(state.refilled_at);
        state.refilled_at = now;
        // A pause means the server's counter is exhausted: accrue nothing
        // until it ends, then start from an empty bucket.
        if let Some(until) = state.paused_until {
            if until > now {
                return;
            }
            state.paused_until = None;
            let since_pause = now.saturating_duration_since(until);
            state.tokens = (since_pause.as_secs_f64() * self.rate_per_second())
                .min(f64::from(self.inner.config.per_minute));
            return;
        }
        state.tokens = (state.tokens + elapsed.as_secs_f64() * self.rate_per_second())
            .min(f64::from(self.inner.config.per_minute));
    }

    /// Takes a token, or says when to look again.
    fn try_take(&self, state: &mut State, priority: Priority, now: Instant) -> Result<(), Instant> {
        if let Some(until) = state.paused_until {
            if until > now {
                return Err(until);
            }
        }
        let needed = match priority {
            Priority::Urgent => 1.0,
            Priority::Background => f64::from(self.inner.config.reserve) + 1.0,
        };
        let urgent_first = priority == Priority::Background && state.urgent_waiting > 0;
        if state.tokens >= needed && !urgent_first {
            state.tokens -= 1.0;
            return Ok(());
        }
        let missing = (needed - state.tokens).max(0.0);
        let wait = Duration::from_secs_f64(missing / self.rate_per_second());
        // When only the urgent-first rule blocks us, look again after one
        // token's worth of time (or earlier, when notified).
        let wait = if wait.is_zero() {
            Duration::from_secs_f64(1.0 / self.rate_per_second())
        } else {
            wait
        };
        Err(now + wait)
    }
}

/// Counts an urgent request as waiting while it lives, so background work
/// stands aside; dropping it (token taken, deadline given up, future
/// cancelled) wakes the others.
struct UrgentWaiting<'a> {
    limiter: &'a RateLimiter,
}

impl<'a> UrgentWaiting<'a> {
    fn new(limiter: &'a RateLimiter) -> UrgentWaiting<'a> {
        limiter.lock().urgent_waiting += 1;
        UrgentWaiting { limiter }
    }
}

impl Drop for UrgentWaiting<'_> {
    fn drop(&mut self) {
        let mut state = self.limiter.lock();
        state.urgent_waiting = state.urgent_waiting.saturating_sub(1);
        drop(state);
        self.limiter.inner.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn limiter(per_minute: u32, reserve: u32) -> RateLimiter {
        RateLimiter::new(RateLimitConfig {
            per_minute,
            reserve,
            ..RateLimitConfig::default()
        })
    }

    async fn drain(limiter: &RateLimiter, priority: Priority) -> usize {
        let mut taken = 0;
        while limiter.try_acquire(priority) {
            taken += 1;
        }
        taken
    }

    #[tokio::test(start_paused = true)]
    async fn full_bucket_then_refill_at_budget_rate() {
        let limiter = limiter(60, 10);
        assert_eq!(drain(&limiter, Priority::Urgent).await, 60);
        let start = Instant::now();
        limiter.acquire(Priority::Urgent, None).await.unwrap();
        // 60 a minute is one a second.
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(drain(&limiter, Priority::Urgent).await, 10);
    }

    #[tokio::test(start_paused = true)]
    async fn background_leaves_the_reserve_to_urgent_work() {
        let limiter = limiter(60, 10);
        assert_eq!(drain(&limiter, Priority::Background).await, 50);
        assert!(!limiter.try_acquire(Priority::Background));
        assert_eq!(drain(&limiter, Priority::Urgent).await, 10);
    }

    #[tokio::test(start_paused = true)]
    async fn urgent_waiters_are_served_before_background_waiters() {
        let limiter = limiter(60, 0);
        drain(&limiter, Priority::Urgent).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let background = {
            let (limiter, order) = (limiter.clone(), order.clone());
            tokio::spawn(async move {
                limiter.acquire(Priority::Background, None).await.unwrap();
                order.lock().unwrap().push("background");
            })
        };
        // Let the background task start waiting first.
        tokio::task::yield_now().await;
        let urgent = {
            let (limiter, order) = (limiter.clone(), order.clone());
            tokio::spawn(async move {
                limiter.acquire(Priority::Urgent, None).await.unwrap();
                order.lock().unwrap().push("urgent");
            })
        };
        urgent.await.unwrap();
        background.await.unwrap();
        assert_eq!(*order.lock().unwrap(), ["urgent", "background"]);
    }

    #[tokio::test(start_paused = true)]
    async fn deadline_that_cannot_be_met_is_refused_at_once() {
        let limiter = limiter(60, 10);
        drain(&limiter, Priority::Urgent).await;
        let start = Instant::now();
        let err = limiter
            .acquire(Priority::Urgent, Some(start + Duration::from_millis(500)))
            .await
            .unwrap_err();
        assert_eq!(err.ready_in, Duration::from_secs(1));
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(limiter.status().urgent_waiting, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn too_many_requests_pauses_until_the_reset() {
        let limiter = limiter(60, 10);
        let now = Utc::now();
        let headers = RateHeaders {
            limit: Some(60),
            remaining: Some(0),
            reset: Some(now + chrono::Duration::seconds(7)),
        };
        limiter.observe(true, &headers, now);
        assert!(!limiter.try_acquire(Priority::Urgent));
        assert_eq!(limiter.status().paused_for, Some(Duration::from_secs(7)));
        let start = Instant::now();
        limiter.acquire(Priority::Urgent, None).await.unwrap();
        // The pause, then one token's worth of refill from empty.
        assert_eq!(start.elapsed(), Duration::from_secs(8));
    }

    #[tokio::test(start_paused = true)]
    async fn too_many_requests_without_reset_uses_the_default_pause() {
        let limiter = limiter(60, 10);
        limiter.observe(true, &RateHeaders::default(), Utc::now());
        assert_eq!(limiter.status().paused_for, Some(Duration::from_secs(5)));
    }

    #[tokio::test(start_paused = true)]
    async fn remaining_header_lowers_our_count() {
        let limiter = limiter(60, 10);
        let headers = RateHeaders {
            remaining: Some(3),
            ..RateHeaders::default()
        };
        limiter.observe(false, &headers, Utc::now());
        assert_eq!(drain(&limiter, Priority::Urgent).await, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn remaining_zero_on_success_pauses_until_reset() {
        let limiter = limiter(60, 10);
        let now = Utc::now();
        let headers = RateHeaders {
            limit: None,
            remaining: Some(0),
            reset: Some(now + chrono::Duration::seconds(3)),
        };
        limiter.observe(false, &headers, now);
        assert_eq!(limiter.status().paused_for, Some(Duration::from_secs(3)));
    }

    #[tokio::test(start_paused = true)]
    async fn far_future_reset_is_capped() {
        let limiter = limiter(60, 10);
        let now = Utc::now();
        let headers = RateHeaders {
            reset: Some(now + chrono::Duration::days(2)),
            ..RateHeaders::default()
        };
        limiter.observe(true, &headers, now);
        assert_eq!(limiter.status().paused_for, Some(Duration::from_secs(120)));
    }

    #[test]
    fn reset_accepts_seconds_milliseconds_and_fractions() {
        let seconds = parse_reset("1700000000").unwrap();
        assert_eq!(seconds.timestamp(), 1_700_000_000);
        let millis = parse_reset("1700000000123").unwrap();
        assert_eq!(millis.timestamp_millis(), 1_700_000_000_123);
        let fraction = parse_reset(" 1700000000.5 ").unwrap();
        assert_eq!(fraction.timestamp_millis(), 1_700_000_000_500);
        assert!(parse_reset("soon").is_none());
        assert!(parse_reset("-5").is_none());
    }

    #[test]
    fn headers_are_read_case_insensitively() {
        let mut headers = HeaderMap::new();
        headers.insert("X-AircallApi-Limit", "60".parse().unwrap());
        headers.insert("X-AircallApi-Remaining", "12".parse().unwrap());
        headers.insert("X-AircallApi-Reset", "1700000000".parse().unwrap());
        let read = RateHeaders::from_headers(&headers);
        assert_eq!(read.limit, Some(60));
        assert_eq!(read.remaining, Some(12));
        assert_eq!(read.reset.unwrap().timestamp(), 1_700_000_000);
    }
}
