//! What a connection is doing, and the deadline that goes with it.
//!
//! A connection is always in one of three phases:
//!
//! | Phase | From | Deadline |
//! | --- | --- | --- |
//! | head | accept, or the first byte of a request on a kept-alive connection | `header_read_timeout` |
//! | busy | the end of the headers to the answer | none here: the body has its own ([`super::body_deadline`]) and the handler never waits on a client |
//! | idle | the answer (a client that does not read it is idle too) | `idle_timeout` |
//!
//! hyper's own header timeout cannot express this: it starts as soon as
//! a connection waits for a request, so it would close an idle kept-alive
//! connection after the header timeout. [`Watched`] (the socket) notes the
//! first byte of each request and [`Activity::request_started`] /
//! [`Activity::request_answered`] (the service) the rest; [`watchdog`]
//! completes when the current phase outlives its deadline.
//!
//! Everything here runs on the connection's own task, so the atomics are
//! uncontended and relaxed; recording a phase is a store and a clock
//! read, and the watchdog wakes at most once per
//! `min(header_read_timeout, idle_timeout)`, not once per request.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

const HEAD: u8 = 0;
const BUSY: u8 = 1;
const IDLE: u8 = 2;

/// Why [`watchdog`] gave up on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// The request's headers did not arrive in time.
    HeaderTimeout,
    /// A kept-alive connection waited too long for its next request.
    IdleTimeout,
}

impl Expired {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Expired::HeaderTimeout => "header_timeout",
            Expired::IdleTimeout => "idle_timeout",
        }
    }
}

/// The phase of one connection and when it began.
#[derive(Debug)]
pub struct Activity {
    opened: Instant,
    phase: AtomicU8,
    /// When the phase began, in nanoseconds after `opened`.
    since: AtomicU64,
}

impl Activity {
    /// A connection just accepted: it is reading its first request's head.
    pub fn new() -> Activity {
        Activity {
            opened: Instant::now(),
            phase: AtomicU8::new(HEAD),
            since: AtomicU64::new(0),
        }
    }

    /// The headers of a request have been read.
    pub fn request_started(&self) {
        self.phase.store(BUSY, Ordering::Relaxed);
    }

    /// The request has been answered: waiting for the next one.
    pub fn request_answered(&self) {
        self.enter(IDLE);
    }

    /// Bytes arrived from the client.
    fn bytes_read(&self) {
        if self.phase.load(Ordering::Relaxed) == IDLE {
            self.enter(HEAD);
        }
    }

    fn enter(&self, phase: u8) {
        let since = u64::try_from(self.opened.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.since.store(since, Ordering::Relaxed);
        self.phase.store(phase, Ordering::Relaxed);
    }

    /// The current phase's deadline and what it means (none when busy).
    fn deadline(&self, limits: &PhaseLimits) -> Option<(Instant, Expired)> {
        let (allowed, expired) = match self.phase.load(Ordering::Relaxed) {
            HEAD => (limits.header_read_timeout, Expired::HeaderTimeout),
            IDLE => (limits.idle_timeout, Expired::IdleTimeout),
            _ => return None,
        };
        let since = self.opened + Duration::from_nanos(self.since.load(Ordering::Relaxed));
        Some((since + allowed, expired))
    }
}

impl Default for Activity {
    fn default() -> Self {
        Activity::new()
    }
}

/// How long each waiting phase may last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
}

/// Completes when the connection has spent longer in its phase than that
/// phase allows.
pub async fn watchdog(activity: &Activity, limits: PhaseLimits) -> Expired {
    // A phase that begins between two looks is seen at the next look, at
    // most `period` later, which is before its own deadline can pass.
    let period = limits.header_read_timeout.min(limits.idle_timeout);
    let timer = tokio::time::sleep(period);
    tokio::pin!(timer);
    loop {
        let now = Instant::now();
        let wake = match activity.deadline(&limits) {
            Some((deadline, expired)) if deadline <= now => return expired,
            Some((deadline, _)) => deadline.min(now + period),
            None => now + period,
        };
        timer.as_mut().reset(wake);
        timer.as_mut().await;
    }
}

/// A socket that tells its [`Activity`] when a request's first bytes
/// arrive.
#[derive(Debug)]
pub struct Watched<S> {
    inner: S,
    activity: std::sync::Arc<Activity>,
}

impl<S> Watched<S> {
    pub fn new(inner: S, activity: std::sync::Arc<Activity>) -> Watched<S> {
        Watched { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.bytes_read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: PhaseLimits = PhaseLimits {
        header_read_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
    };

    /// Paused time advances to each timer's millisecond.
    fn assert_took(started: Instant, seconds: u64) {
        let took = started.elapsed();
        let expected = Duration::from_secs(seconds);
        assert!(
            took >= expected && took < expected + Duration::from_millis(5),
            "took {took:?}, expected {expected:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_connection_has_the_header_timeout() {
        let activity = Activity::new();
        let started = Instant::now();
        assert_eq!(watchdog(&activity, LIMITS).await, Expired::HeaderTimeout);
        assert_took(started, 10);
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_connection_has_no_deadline_and_an_idle_one_the_idle_timeout() {
        let activity = Activity::new();
        activity.request_started();
        let started = Instant::now();
        let watching = watchdog(&activity, LIMITS);
        tokio::pin!(watching);
        // Busy for five minutes: still open.
        tokio::select! {
            expired = &mut watching => unreachable!("expired while busy: {expired:?}"),
            () = tokio::time::sleep(Duration::from_secs(300)) => {}
        }
        activity.request_answered();
        assert_eq!(watching.await, Expired::IdleTimeout);
        assert_took(started, 360);
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_byte_of_the_next_request_starts_the_header_timeout() {
        let activity = Activity::new();
        activity.request_started();
        activity.request_answered();
        let started = Instant::now();
        let watching = watchdog(&activity, LIMITS);
        tokio::pin!(watching);
        // Idle for 25 s (less than the idle timeout), then a byte.
        tokio::select! {
            expired = &mut watching => unreachable!("expired while idle: {expired:?}"),
            () = tokio::time::sleep(Duration::from_secs(25)) => {}
        }
        activity.bytes_read();
        assert_eq!(watching.await, Expired::HeaderTimeout);
        assert_took(started, 35);
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_of_a_request_being_read_change_nothing() {
        let activity = Activity::new();
        activity.bytes_read();
        activity.request_started();
        activity.bytes_read();
        assert_eq!(activity.deadline(&LIMITS), None);
    }
}
