//! Load generator for `switchboard serve`, and a fast fake Aircall to point
//! it at. Driven by `scripts/load.sh`; usable on its own:
//!
//! ```text
//! cargo run --release --example load -- fake-aircall --listen 127.0.0.1:9900
//! cargo run --release --example load -- bench --url http://127.0.0.1:8080/aircall/calls \
//!     --scenario no-match --connections 64 --duration 10
//! cargo run --release --example load -- bench ... --rate 5000      # open loop, p99
//! ```
//!
//! `bench` keeps `--connections` HTTP/1.1 keep-alive connections, each with
//! one request in flight, posting `call.created` webhooks with unique call
//! ids. With `--rate 0` it sends as fast as the server answers (throughput);
//! with `--rate N` it sends on a fixed schedule and measures each latency
//! from the moment the request was *due* whenever the previous answer on
//! its connection came after that moment, so a slow answer is not hidden
//! by the requests it delayed (no coordinated omission); otherwise from
//! when it was sent (tokio's timer wakes up to 1 ms late, which is not the
//! server's doing). The client is raw
//! TCP with pre-formatted requests, so that it costs far less CPU than the
//! server it measures on the same two cores.
//!
//! `bare` serves a handler that only parses the JSON body: the ceiling of
//! axum on this machine, to read the service's figures against.
//!
//! `fake-aircall` answers what the service asks at start (ping, users,
//! teams, tags, availabilities) and `204` to every transfer, counting them
//! (`GET /stats`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::{get, post};
use axum::{Json, Router};
use clap::{Parser, Subcommand, ValueEnum};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Post webhooks and report throughput and latency.
    Bench(Bench),
    /// Serve a fake Aircall API that answers fast.
    FakeAircall {
        #[arg(long, default_value = "127.0.0.1:9900")]
        listen: SocketAddr,
    },
    /// The machine's ceiling: a bare axum handler that only parses the JSON
    /// body, on the same runtime as `serve`, measured by the same `bench`.
    Bare {
        #[arg(long, default_value = "127.0.0.1:9910")]
        listen: SocketAddr,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// A caller no rule of rules/main.rules matches: decided "keep".
    NoMatch,
    /// A Spanish caller: rules/main.rules transfers to team "Soporte".
    Transfer,
}

#[derive(Debug, Clone, Parser)]
struct Bench {
    /// The webhook URL (http only).
    #[arg(long, default_value = "http://127.0.0.1:8080/aircall/calls")]
    url: String,
    #[arg(long, value_enum, default_value = "no-match")]
    scenario: Scenario,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds to run (after a 1 s warm-up that is not measured).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Requests per second in total; 0 = as fast as possible.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// The webhook token to put in the envelope.
    #[arg(long)]
    token: Option<String>,
    /// First call id (ids are unique per request from here).
    #[arg(long, default_value_t = 1_000_000_000)]
    first_id: i64,
    /// Print the distinct rule-set revisions seen in the answers.
    #[arg(long)]
    revisions: bool,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    match cli.command {
        Command::FakeAircall { listen } => {
            // One thread: the fake must leave the cores to the service.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(fake_aircall(listen))
        }
        Command::Bare { listen } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(bare(listen)),
        Command::Bench(bench) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(run_bench(bench))
        }
    }
}

async fn bare(listen: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let app = Router::new().route(
        "/aircall/calls",
        post(|Json(body): Json<serde_json::Value>| async move {
            Json(json!({"event": body.get("event")}))
        }),
    );
    let listener = tokio::net::TcpListener::bind(listen).await?;
    eprintln!("bare axum handler on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

async fn fake_aircall(listen: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let transfers = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&transfers);
    let page = |key: &'static str, items: serde_json::Value| {
        move || {
            let items = items.clone();
            async move {
                Json(
                    json!({"meta": {"count": 1, "per_page": 50, "next_page_link": null}, key: items}),
                )
            }
        }
    };
    let app = Router::new()
        .route("/v1/ping", get(|| async { Json(json!({"ping": "pong"})) }))
        .route(
            "/v1/users",
            get(page(
                "users",
                json!([{"id": 101, "email": "alice@example.com"}]),
            )),
        )
        .route(
            "/v1/teams",
            get(page(
                "teams",
                json!([{"id": 7, "name": "Sales"}, {"id": 8, "name": "Soporte"}]),
            )),
        )
        .route(
            "/v1/tags",
            get(page("tags", json!([{"id": 3, "name": "VIP"}]))),
        )
        .route(
            "/v1/users/availabilities",
            get(page(
                "users",
                json!([{"id": 101, "availability": "available"}]),
            )),
        )
        .route(
            "/v1/calls/{id}/transfers",
            post(move || {
                let counted = Arc::clone(&counted);
                async move {
                    counted.fetch_add(1, Ordering::Relaxed);
                    axum::http::StatusCode::NO_CONTENT
                }
            }),
        )
        .route(
            "/v1/calls/{id}/comments",
            post(|| async { axum::http::StatusCode::CREATED }),
        )
        .route(
            "/v1/calls/{id}/tags",
            post(|| async { axum::http::StatusCode::CREATED }),
        )
        .route(
            "/stats",
            get(move || {
                let transfers = Arc::clone(&transfers);
                async move { Json(json!({"transfers": transfers.load(Ordering::Relaxed)})) }
            }),
        );
    let listener = tokio::net::TcpListener::bind(listen).await?;
    eprintln!("fake Aircall on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

/// What one connection measured.
#[derive(Debug, Default)]
struct Tally {
    latencies_us: Vec<u32>,
    statuses: BTreeMap<u16, u64>,
    errors: u64,
    revisions: BTreeSet<String>,
}

/// One connection's request bytes, built once and patched per request: the
/// generator shares the two cores with the server it measures, so it must
/// not format a whole request each time. Only the call id changes from one
/// request to the next (written in place, twice); the template is rebuilt
/// when the id's width or the second (`timestamp`, `started_at`) changes.
#[derive(Debug, Default)]
struct Template {
    bytes: Vec<u8>,
    /// Where the id's digits start in `bytes`.
    id_at: [usize; 2],
    id_width: usize,
    now: i64,
}

impl Template {
    fn request(&mut self, bench: &Bench, host: &str, path: &str, id: i64, now: i64) -> &[u8] {
        let mut digits = [0_u8; 20];
        let id_text = decimal(id, &mut digits);
        if self.bytes.is_empty() || self.id_width != id_text.len() || self.now != now {
            self.build(bench, host, path, id_text, now);
        }
        for at in self.id_at {
            self.bytes[at..at + id_text.len()].copy_from_slice(id_text);
        }
        &self.bytes
    }

    fn build(&mut self, bench: &Bench, host: &str, path: &str, id: &[u8], now: i64) {
        // Not the main line (id 1234) and not the support line's digits, so
        // the time-of-day rules of rules/main.rules do not apply.
        let caller = match bench.scenario {
            Scenario::NoMatch => "+33 6 12 34 56 78",
            Scenario::Transfer => "+34 912 34 56 78",
        };
        let token = bench
            .token
            .as_deref()
            .map_or(String::new(), |t| format!(",\"token\":\"{t}\""));
        let id = std::str::from_utf8(id).unwrap_or("0");
        let head = format!(
            "{{\"resource\":\"call\",\"event\":\"call.created\",\"timestamp\":{now}{token},\
             \"data\":{{\"id\":"
        );
        let middle = "\"direct_link\":\"https://api.aircall.io/v1/calls/";
        let tail = format!(
            "\",\"direction\":\"inbound\",\"status\":\"initial\",\"started_at\":{now},\
             \"answered_at\":null,\"ended_at\":null,\"duration\":0,\"raw_digits\":\"{caller}\",\
             \"number\":{{\"id\":4321,\"direct_link\":\"https://api.aircall.io/v1/numbers/4321\",\
             \"name\":\"Sales FR\",\"digits\":\"+33 1 00 00 00 00\",\"country\":\"FR\",\
             \"time_zone\":\"Europe/Paris\",\"open\":true,\"availability_status\":\"open\",\
             \"is_ivr\":false}},\"teams\":[]}}}}"
        );
        let length = head.len() + id.len() + 1 + middle.len() + id.len() + tail.len();
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             Content-Length: {length}\r\n\r\n{head}"
        );
        let first = request.len();
        request.push_str(id);
        request.push(',');
        request.push_str(middle);
        let second = request.len();
        request.push_str(id);
        request.push_str(&tail);
        self.bytes = request.into_bytes();
        self.id_at = [first, second];
        self.id_width = id.len();
        self.now = now;
    }
}

/// `value` in decimal, in `buffer`, without allocating.
fn decimal(value: i64, buffer: &mut [u8; 20]) -> &[u8] {
    let negative = value < 0;
    let mut rest = value.unsigned_abs();
    let mut at = buffer.len();
    loop {
        at -= 1;
        buffer[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if negative {
        at -= 1;
        buffer[at] = b'-';
    }
    &buffer[at..]
}

async fn run_bench(bench: Bench) -> Result<(), Box<dyn std::error::Error>> {
    let rest = bench
        .url
        .strip_prefix("http://")
        .ok_or("only http:// URLs")?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let address: SocketAddr = tokio::net::lookup_host(host)
        .await?
        .next()
        .ok_or("cannot resolve the host")?;
    let warmup = Duration::from_secs(1);
    let measured = Duration::from_secs_f64(bench.duration);
    let start = Instant::now() + Duration::from_millis(50);
    let measure_from = start + warmup;
    let end = measure_from + measured;
    let per_connection_interval = (bench.rate > 0)
        .then(|| Duration::from_secs_f64(bench.connections as f64 / bench.rate as f64));
    let next_id = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for connection in 0..bench.connections {
        let bench = bench.clone();
        let (host, path) = (host.to_owned(), path.to_owned());
        let next_id = Arc::clone(&next_id);
        // Spread the connections' schedules over one interval.
        let offset = per_connection_interval.map_or(Duration::ZERO, |interval| {
            interval.mul_f64(connection as f64 / bench.connections as f64)
        });
        tasks.push(tokio::spawn(async move {
            connection_loop(
                address,
                &host,
                &path,
                &bench,
                next_id,
                start + offset,
                per_connection_interval,
                measure_from,
                end,
            )
            .await
        }));
    }
    let mut total = Tally::default();
    for task in tasks {
        let tally = task.await?;
        total.latencies_us.extend(tally.latencies_us);
        for (status, count) in tally.statuses {
            *total.statuses.entry(status).or_default() += count;
        }
        total.errors += tally.errors;
        total.revisions.extend(tally.revisions);
    }
    report(&bench, &total, measured);
    Ok(())
}

#[expect(
    clippy::too_many_arguments,
    reason = "a private loop with its plain inputs"
)]
async fn connection_loop(
    address: SocketAddr,
    host: &str,
    path: &str,
    bench: &Bench,
    next_id: Arc<AtomicU64>,
    first_due: Instant,
    interval: Option<Duration>,
    measure_from: Instant,
    end: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut stream = None;
    let mut buffer = vec![0_u8; 64 * 1024];
    let mut template = Template::default();
    let mut due = first_due;
    let mut previous_finished = first_due;
    tokio::time::sleep_until(first_due.into()).await;
    loop {
        if interval.is_some() {
            tokio::time::sleep_until(due.into()).await;
        } else {
            due = Instant::now();
        }
        if due >= end {
            break;
        }
        if stream.is_none() {
            match TcpStream::connect(address).await {
                Ok(connected) => {
                    let _ = connected.set_nodelay(true);
                    stream = Some(connected);
                }
                Err(_) => {
                    tally.errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            }
        }
        let id = bench.first_id + next_id.fetch_add(1, Ordering::Relaxed) as i64;
        let now = chrono::Utc::now().timestamp();
        let request = template.request(bench, host, path, id, now);
        let Some(connection) = stream.as_mut() else {
            continue;
        };
        // Latency counts from the due time when this connection was still
        // waiting for the previous answer then (the server's delay must
        // not hide itself); otherwise from the actual send, so the timer's
        // millisecond granularity is not charged to the server.
        let sent = Instant::now();
        let start = if previous_finished > due { due } else { sent };
        let result = exchange(connection, request, &mut buffer).await;
        let finished = Instant::now();
        previous_finished = finished;
        match result {
            Ok((status, answer)) => {
                if due >= measure_from {
                    let latency = finished.saturating_duration_since(start);
                    tally
                        .latencies_us
                        .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
                    *tally.statuses.entry(status).or_default() += 1;
                    if bench.revisions {
                        if let Some(revision) = revision_of(answer) {
                            tally.revisions.insert(revision);
                        }
                    }
                }
            }
            Err(_) => {
                if due >= measure_from {
                    tally.errors += 1;
                }
                stream = None;
            }
        }
        if let Some(interval) = interval {
            due += interval;
        }
    }
    tally
}

fn revision_of(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("\"revision\":\"")? + "\"revision\":\"".len();
    let end = text[start..].find('"')?;
    Some(text[start..start + end].to_owned())
}

/// Sends one request and reads one response; returns the status and body.
async fn exchange<'b>(
    stream: &mut TcpStream,
    request: &[u8],
    buffer: &'b mut [u8],
) -> std::io::Result<(u16, &'b [u8])> {
    stream.write_all(request).await?;
    let mut filled = 0;
    loop {
        let read = stream.read(&mut buffer[filled..]).await?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        filled += read;
        let Some(head_end) = find(&buffer[..filled], b"\r\n\r\n") else {
            if filled == buffer.len() {
                return Err(std::io::ErrorKind::InvalidData.into());
            }
            continue;
        };
        let head = std::str::from_utf8(&buffer[..head_end])
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidData))?;
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or(std::io::ErrorKind::InvalidData)?;
        let length: usize = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())
                    .flatten()
            })
            .unwrap_or(0);
        let total = head_end + 4 + length;
        if total > buffer.len() {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
        while filled < total {
            let read = stream.read(&mut buffer[filled..]).await?;
            if read == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            filled += read;
        }
        return Ok((status, &buffer[head_end + 4..total]));
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn report(bench: &Bench, tally: &Tally, measured: Duration) {
    let mut latencies = tally.latencies_us.clone();
    latencies.sort_unstable();
    let count = latencies.len();
    let percentile = |p: f64| -> f64 {
        if count == 0 {
            return 0.0;
        }
        let index = ((p / 100.0) * (count as f64 - 1.0)).round() as usize;
        f64::from(latencies[index.min(count - 1)]) / 1000.0
    };
    let ok = tally.statuses.get(&200).copied().unwrap_or(0);
    let failed = count as u64 - ok + tally.errors;
    println!(
        "scenario={:?} connections={} rate={} duration={:.1}s",
        bench.scenario,
        bench.connections,
        if bench.rate == 0 {
            "max".to_owned()
        } else {
            bench.rate.to_string()
        },
        measured.as_secs_f64()
    );
    println!(
        "requests={count} ok={ok} failed={failed} throughput={:.0}/s",
        count as f64 / measured.as_secs_f64()
    );
    println!("statuses={:?} errors={}", tally.statuses, tally.errors);
    println!(
        "latency_ms p50={:.3} p90={:.3} p99={:.3} p99.9={:.3} max={:.3}",
        percentile(50.0),
        percentile(90.0),
        percentile(99.0),
        percentile(99.9),
        percentile(100.0)
    );
    if bench.revisions {
        println!(
            "revisions={}",
            tally
                .revisions
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(",")
        );
    }
}
