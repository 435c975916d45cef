//! Accepting and serving connections, within bounds a public endpoint
//! needs and `axum::serve` does not offer.
//!
//! - **Cap**: at most `max_connections` are open at once. One more is
//!   accepted, answered 503 (`Connection: close`, `Retry-After: 1`) and
//!   closed at once, so its client learns straight away (a load balancer
//!   tries another replica, Aircall redelivers) instead of waiting in the
//!   kernel's queue behind the connections that hold every slot; the
//!   next connection after a slot frees is served as usual.
//! - **Deadlines**: each connection is served by hyper's HTTP/1 server on
//!   a task of its own, with a [`watchdog`] that closes it when a
//!   request's headers are late (`header_read_timeout`, from accept or
//!   from the request's first byte) or when it has waited for a request
//!   too long (`idle_timeout`); each request body has a
//!   [`BodyDeadline`] (`body_read_timeout`, answered 408).
//! - **Shutdown**: stop accepting, let each connection finish the request
//!   in flight (idle ones close at once), return when all are closed.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::response::Response;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::body_deadline::BodyDeadline;
use super::open_files;
use super::watchdog::{watchdog, Activity, PhaseLimits, Watched};
use crate::config::{ServerConfig, MAX_CONNECTIONS_LIMIT};
use crate::metrics::Metrics;

/// How long to wait before accepting again after an error that is not
/// about one connection (out of file descriptors, mostly).
const ACCEPT_RETRY: Duration = Duration::from_millis(250);

/// How often at most the refusals at the cap are logged.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(60);

/// The answer to a connection over the cap, written before closing it.
const OVER_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
    content-type: application/json\r\n\
    content-length: 48\r\n\
    retry-after: 1\r\n\
    connection: close\r\n\
    \r\n\
    {\"error\":\"too many open connections, try again\"}";

/// The bounds of the server's connections (the `server:` table, with the
/// cap resolved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl ConnectionLimits {
    /// The limits `config` asks for; without `max_connections`, the
    /// default for this process's open-files limit.
    pub fn from_config(config: &ServerConfig) -> ConnectionLimits {
        ConnectionLimits {
            header_read_timeout: config.header_read_timeout,
            body_read_timeout: config.body_read_timeout,
            idle_timeout: config.idle_timeout,
            max_connections: config
                .max_connections
                .unwrap_or_else(open_files::current_default_max_connections),
        }
    }

    fn phases(&self) -> PhaseLimits {
        PhaseLimits {
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops
/// accepting and returns once every connection is closed.
pub async fn serve_connections<F>(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
    shutdown: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    // What the config allows; a `ConnectionLimits` built by hand could
    // ask for more than a semaphore holds.
    let max_connections = limits.max_connections.clamp(1, MAX_CONNECTIONS_LIMIT);
    let slots = Arc::new(Semaphore::new(max_connections));
    let (stopping, stop) = watch::channel(false);
    let mut refusals = Refusals::default();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            // The client gave up before we took its connection.
            Err(error) if is_about_one_connection(&error) => continue,
            Err(error) => {
                tracing::error!(
                    %error,
                    "cannot accept connections (if the open-files limit is reached, lower server.max_connections)"
                );
                tokio::select! {
                    () = tokio::time::sleep(ACCEPT_RETRY) => continue,
                    () = &mut shutdown => break,
                }
            }
        };
        match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => {
                metrics.connection_opened();
                tokio::spawn(serve_connection(
                    stream,
                    router.clone(),
                    limits,
                    Arc::clone(&metrics),
                    stop.clone(),
                    slot,
                ));
            }
            Err(_) => {
                refuse(&stream);
                drop(stream);
                metrics.connection_closed("max_connections");
                refusals.note(max_connections);
            }
        }
    }
    drop(listener);
    stopping.send_replace(true);
    // Every open connection holds a slot: all of them back means all
    // connections are closed. The semaphore is never closed, so this
    // cannot fail.
    let every_slot = u32::try_from(max_connections).unwrap_or(u32::MAX);
    let _all_closed = slots.acquire_many(every_slot).await;
    Ok(())
}

/// Errors of `accept` that concern one connection, not the listener.
fn is_about_one_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Answers a connection over the cap without waiting for anything: what
/// the client already sent is read and dropped (closing with unread
/// bytes would reset the connection, and the client might not see the
/// answer), then the 503 is written if the socket takes it at once.
fn refuse(stream: &TcpStream) {
    let mut discard = [0u8; 4096];
    let _ = stream.try_read(&mut discard);
    let _ = stream.try_write(OVER_CAPACITY);
}

/// Logs refusals at the cap, at most once a minute.
#[derive(Debug, Default)]
struct Refusals {
    last_logged: Option<Instant>,
    unlogged: u64,
}

impl Refusals {
    fn note(&mut self, max_connections: usize) {
        self.unlogged += 1;
        let due = self
            .last_logged
            .is_none_or(|last| last.elapsed() >= REFUSAL_LOG_EVERY);
        if due {
            tracing::warn!(
                refused = self.unlogged,
                max_connections,
                "connections refused: server.max_connections are open (raise it if these are real clients)"
            );
            self.last_logged = Some(Instant::now());
            self.unlogged = 0;
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    router: Router,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
    mut stop: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    // Small JSON answers: do not let Nagle's algorithm hold them back.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "could not set TCP_NODELAY");
    }
    let activity = Arc::new(Activity::new());
    let service = PerConnection {
        router,
        activity: Arc::clone(&activity),
        body_read_timeout: limits.body_read_timeout,
    };
    let connection = http1::Builder::new()
        // The watchdog's: hyper's would also close idle connections once
        // the header timeout has passed.
        .header_read_timeout(None)
        .serve_connection(
            TokioIo::new(Watched::new(stream, Arc::clone(&activity))),
            service,
        );
    tokio::pin!(connection);
    let expiry = watchdog(&activity, limits.phases());
    tokio::pin!(expiry);
    let mut draining = false;
    loop {
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(error) = served {
                    tracing::debug!(%error, "connection ended with an error");
                }
                break;
            }
            expired = &mut expiry => {
                tracing::debug!(reason = expired.as_str(), "connection closed by the server");
                metrics.connection_closed(expired.as_str());
                break;
            }
            // Changed or dropped: either way the server is stopping.
            _ = stop.changed(), if !draining => {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
    metrics.connection_ended();
}

/// The router as one connection's hyper service: each request is noted
/// in the connection's [`Activity`] and its body gets its deadline.
#[derive(Debug, Clone)]
struct PerConnection {
    router: Router,
    activity: Arc<Activity>,
    body_read_timeout: Duration,
}

impl hyper::service::Service<Request<Incoming>> for PerConnection {
    type Response = Response;
    type Error = Infallible;
    type Future =
        Answered<<Router as tower_service::Service<Request<BodyDeadline<Incoming>>>>::Future>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        self.activity.request_started();
        let started = Instant::now();
        let allowed = self.body_read_timeout;
        let request = request.map(|body| BodyDeadline::new(body, started, allowed));
        // A router is always ready (its `poll_ready` is `Ready(Ok)`), and
        // a clone of it is a reference count.
        let response = tower_service::Service::call(&mut self.router.clone(), request);
        Answered {
            response,
            activity: Arc::clone(&self.activity),
        }
    }
}

/// A response on its way; marks the connection idle once it is ready.
#[derive(Debug)]
struct Answered<F> {
    response: F,
    activity: Arc<Activity>,
}

impl<F: Future + Unpin> Future for Answered<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.response).poll(cx);
        if polled.is_ready() {
            this.activity.request_answered();
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn the_over_capacity_answer_is_well_formed() {
        let text = std::str::from_utf8(OVER_CAPACITY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 503 "), "{head}");
        assert!(
            head.contains(&format!("content-length: {}\r\n", body.len())),
            "{head}"
        );
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert!(json["error"].is_string());
    }
}
