//! Issue 15 §5: slow and idle clients cannot hold connections for ever,
//! and the number of open connections is capped. Raw TCP clients on
//! 127.0.0.1 against a real server with short timeouts; a good request is
//! answered throughout.

#![expect(clippy::unwrap_used, reason = "tests")]

use crate::support;
use std::time::{Duration, Instant};

use support::serve::*;
use switchboard::config::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a test waits for the server to close a connection before
/// deciding it never will: far above every timeout configured here.
const NEVER: Duration = Duration::from_secs(5);

fn limits(header: u64, body: u64, idle: u64, max_connections: Option<usize>) -> ServerConfig {
    ServerConfig {
        header_read_timeout: Duration::from_millis(header),
        body_read_timeout: Duration::from_millis(body),
        idle_timeout: Duration::from_millis(idle),
        max_connections,
    }
}

async fn start(server: ServerConfig) -> (Server, RulesDir) {
    let rules = RulesDir::new(RULES);
    let mut config = dry_run_config(&rules.file());
    config.server = server;
    (Server::start(&config).await, rules)
}

async fn connect(server: &Server) -> TcpStream {
    TcpStream::connect(server.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Writes `prefix`, then one byte of `drip` every 50 ms (never finishing
/// it), reading all along. Returns what the server sent and how long after
/// connecting it closed the connection; fails if it did not within
/// [`NEVER`].
async fn drip_until_closed(mut stream: TcpStream, prefix: &[u8], drip: u8) -> (String, Duration) {
    let connected = Instant::now();
    stream.write_all(prefix).await.unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let deadline = tokio::time::sleep(NEVER);
    tokio::pin!(deadline);
    let closed = loop {
        tokio::select! {
            read = stream.read(&mut buffer) => match read {
                Ok(0) | Err(_) => break true,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            },
            _ = tick.tick() => {
                if stream.write_all(&[drip]).await.is_err() {
                    break true;
                }
            }
            () = &mut deadline => break false,
        }
    };
    assert!(
        closed,
        "the server never closed the connection; it sent {:?}",
        String::from_utf8_lossy(&received)
    );
    (
        String::from_utf8_lossy(&received).into_owned(),
        connected.elapsed(),
    )
}

/// Reads until the server closes the connection; fails after [`NEVER`].
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    let closed = tokio::time::timeout(NEVER, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server never closed the connection; it sent {:?}",
        String::from_utf8_lossy(&received)
    );
    String::from_utf8_lossy(&received).into_owned()
}

/// Reads one answer to `GET /healthz` (its body is `ok\n`).
async fn read_health_answer(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buffer = [0u8; 1024];
    while !received.ends_with(b"ok\n") {
        let n = tokio::time::timeout(NEVER, stream.read(&mut buffer))
            .await
            .unwrap()
            .unwrap();
        assert!(
            n > 0,
            "closed after {:?}",
            String::from_utf8_lossy(&received)
        );
        received.extend_from_slice(&buffer[..n]);
    }
    String::from_utf8_lossy(&received).into_owned()
}

/// `GET /healthz` on a new connection of its own; the status line, or
/// `None` when the connection is closed without one.
async fn health_on_new_connection(server: &Server) -> Option<String> {
    let mut stream = connect(server).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .ok()?;
    let answer = read_until_closed(&mut stream).await;
    answer.lines().next().map(str::to_owned)
}

async fn assert_healthy(server: &Server) {
    assert_eq!(
        health_on_new_connection(server).await.as_deref(),
        Some("HTTP/1.1 200 OK")
    );
}

#[tokio::test]
async fn slow_headers_are_closed_after_the_header_timeout() {
    let (server, _rules) = start(limits(300, 10_000, 10_000, None)).await;
    // A byte every 50 ms, headers never finished.
    let dripping = tokio::spawn({
        let stream = connect(&server).await;
        async move { drip_until_closed(stream, b"POST /aircall/calls HTTP/1.1\r\nX-Slow: ", b'a').await }
    });
    // Connected, nothing sent.
    let mut silent = connect(&server).await;
    let silent_since = Instant::now();
    assert_healthy(&server).await;

    let answer = read_until_closed(&mut silent).await;
    assert_eq!(answer, "", "nothing is answered to a request never sent");
    assert!(silent_since.elapsed() >= Duration::from_millis(250));
    let (answer, after) = dripping.await.unwrap();
    assert_eq!(answer, "");
    assert!(
        after >= Duration::from_millis(250),
        "closed after {after:?}"
    );
    assert_healthy(&server).await;

    let (_, metrics) = server.get("/metrics").await;
    assert!(
        metrics.contains(r#"switchboard_connections_closed_total{reason="header_timeout"} 2"#),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_slow_body_is_answered_408_and_closed() {
    let (server, _rules) = start(limits(10_000, 300, 10_000, None)).await;
    let stream = connect(&server).await;
    let dripping = tokio::spawn(async move {
        drip_until_closed(
            stream,
            b"POST /aircall/calls HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
              Content-Length: 1000\r\n\r\n{\"event\": \"",
            b'a',
        )
        .await
    });
    assert_healthy(&server).await;
    let (answer, after) = dripping.await.unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{answer}"
    );
    assert!(answer.contains("connection: close\r\n"), "{answer}");
    assert!(
        answer.contains("the request body did not arrive within 300ms"),
        "{answer}"
    );
    assert!(
        after >= Duration::from_millis(250),
        "closed after {after:?}"
    );
    assert_healthy(&server).await;

    let (_, metrics) = server.get("/metrics").await;
    assert!(
        metrics.contains(r#"switchboard_webhooks_total{event="other",outcome="body_timeout"} 1"#),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_idle_kept_alive_connection_is_closed_after_the_idle_timeout() {
    // The idle timeout is longer than the header timeout: waiting for the
    // next request is not reading its headers.
    let (server, _rules) = start(limits(200, 10_000, 700, None)).await;
    let mut stream = connect(&server).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let answer = read_health_answer(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");

    // Idle for longer than the header timeout, shorter than the idle
    // one: still open, and the next request is served.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let answer = read_health_answer(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    let idle_since = Instant::now();

    assert_eq!(read_until_closed(&mut stream).await, "");
    let idle = idle_since.elapsed();
    assert!(idle >= Duration::from_millis(650), "closed after {idle:?}");
    assert_healthy(&server).await;

    let (_, metrics) = server.get("/metrics").await;
    assert!(
        metrics.contains(r#"switchboard_connections_closed_total{reason="idle_timeout"} 1"#),
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test]
async fn connections_over_the_cap_are_refused_until_slots_free() {
    let (server, _rules) = start(limits(600, 10_000, 10_000, Some(3))).await;
    // Three clients that connect and send nothing hold every slot...
    let mut holders = Vec::new();
    for _ in 0..3 {
        holders.push(connect(&server).await);
    }
    let held_since = Instant::now();
    // ... so the next connection is answered 503 and closed at once.
    let mut over = connect(&server).await;
    let answer = read_until_closed(&mut over).await;
    assert!(
        answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{answer:?}"
    );
    assert!(answer.contains("retry-after: 1\r\n"), "{answer}");
    assert!(held_since.elapsed() < Duration::from_millis(500));
    // A request sent at once may meet the closed socket before it can
    // read the 503: refused either way.
    let refused = health_on_new_connection(&server).await;
    assert_ne!(refused.as_deref(), Some("HTTP/1.1 200 OK"));

    // One client leaves: its slot serves the next good request.
    drop(holders.pop());
    eventually("a slot to free up", || async {
        health_on_new_connection(&server).await.as_deref() == Some("HTTP/1.1 200 OK")
    })
    .await;
    // The silent ones are closed at the header timeout: all slots free.
    for mut holder in holders {
        assert_eq!(read_until_closed(&mut holder).await, "");
    }
    let answered: Vec<Option<String>> = health_on_connections_open_together(&server, 3).await;
    assert!(
        answered
            .iter()
            .all(|status| status.as_deref() == Some("HTTP/1.1 200 OK")),
        "{answered:?}"
    );

    let (_, metrics) = server.get("/metrics").await;
    let refused_line = metrics
        .lines()
        .find(|line| {
            line.starts_with(r#"switchboard_connections_closed_total{reason="max_connections"}"#)
        })
        .unwrap_or_default();
    assert!(!refused_line.is_empty(), "no refusal counted in\n{metrics}");
    let refused: u64 = refused_line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(refused >= 2, "{refused_line}");
    server.stop().await;
}

/// `count` health requests at once, each on its own connection, all open
/// together.
async fn health_on_connections_open_together(server: &Server, count: usize) -> Vec<Option<String>> {
    let mut streams = Vec::new();
    for _ in 0..count {
        streams.push(connect(server).await);
    }
    let mut answers = Vec::new();
    for stream in &mut streams {
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
    }
    for stream in &mut streams {
        let answer = read_until_closed(stream).await;
        answers.push(answer.lines().next().map(str::to_owned));
    }
    answers
}
