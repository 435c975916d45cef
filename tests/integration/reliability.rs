//! Reliability under hostile conditions, kept as tests (issue 15 §7): a
//! storm of rules saves in every style while webhooks pour in, and bursts
//! of redelivered webhooks. Each prints its counts (tried, failed); the
//! figures of a longer run are in `docs/reliability.md`.
//!
//! `SWITCHBOARD_RELIABILITY_SCALE=N` multiplies the work (default 1, a few
//! seconds each). The kill -9 and replica scenarios are `crash.rs`
//! and `replicas.rs`.

#![expect(clippy::unwrap_used, reason = "tests")]
#![cfg(unix)]

use crate::support;
use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use support::serve::{
    call_created, eventually, fake_aircall, live_config, transfers, RulesDir, Server, WEBHOOK_TOKEN,
};
use switchboard::config::WatchMode;

fn scale() -> usize {
    std::env::var("SWITCHBOARD_RELIABILITY_SCALE")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// Valid version `n`: two rules, so that the first alone (what a half
/// written file holds) leaves `+33` callers undecided, which shows.
fn version(n: usize) -> [String; 2] {
    [
        format!(
            "rule \"uk v{n}\"\nwhen caller starts with \"+44\"\ntransfer to \"+33176360695\"\n\n"
        ),
        format!("rule \"rest v{n}\"\nwhen caller exists\ntransfer to \"+33176360696\"\n"),
    ]
}

/// One way an operator, an editor or a deploy tool saves the rules.
#[derive(Debug, Clone, Copy)]
enum Save {
    /// `echo ... > main.rules` in one write.
    InPlace,
    /// An editor's or deploy tool's temporary file renamed over the old one.
    Rename,
    /// Truncated, then written a rule at a time with short pauses.
    SlowWrite,
    /// `: > main.rules`: must be refused.
    Truncate,
    /// A typo: must be rejected.
    Invalid,
}

const STYLES: [Save; 5] = [
    Save::InPlace,
    Save::Rename,
    Save::SlowWrite,
    Save::Truncate,
    Save::Invalid,
];

fn save(file: &Path, style: Save, n: usize) {
    let [first, second] = version(n);
    match style {
        Save::InPlace => std::fs::write(file, format!("{first}{second}")).unwrap(),
        Save::Rename => {
            let temporary = file.with_extension("rules.tmp");
            std::fs::write(&temporary, format!("{first}{second}")).unwrap();
            std::fs::rename(&temporary, file).unwrap();
        }
        Save::SlowWrite => {
            let mut writer = std::fs::File::create(file).unwrap();
            for part in [first, second] {
                writer.write_all(part.as_bytes()).unwrap();
                writer.flush().unwrap();
                std::thread::sleep(Duration::from_millis(40));
            }
        }
        Save::Truncate => drop(std::fs::File::create(file).unwrap()),
        Save::Invalid => {
            std::fs::write(file, "rule \"typo\"\nwhen caller.contry == \"FR\"\nkeep\n").unwrap()
        }
    }
}

/// What the load saw: per answer status, and the decisions of the 200s.
#[derive(Debug, Default)]
struct LoadLog {
    statuses: HashMap<u16, usize>,
    undecided: Vec<Value>,
    acknowledged: Vec<i64>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_storm_with_every_save_style_under_load() {
    let aircall = fake_aircall().await;
    let rules = RulesDir::new(&version(0).concat());
    let mut config = live_config(&rules.file(), &aircall);
    config.watch = WatchMode::Inotify;
    config.watch_debounce = Duration::from_millis(100);
    config.queue_capacity = 100_000;
    config.aircall.rate_limit_per_minute = 1_000_000;
    let server = Server::start(&config).await;
    server.wait_ready().await;

    let stop = Arc::new(AtomicBool::new(false));
    let next_id = Arc::new(AtomicI64::new(1));
    let log = Arc::new(Mutex::new(LoadLog::default()));
    let mut load = Vec::new();
    for worker in 0..4 {
        let (http, url) = (server.http.clone(), server.url("/aircall/calls"));
        let (stop, next_id, log) = (Arc::clone(&stop), Arc::clone(&next_id), Arc::clone(&log));
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                let caller = if (id + worker) % 2 == 0 {
                    "+44 20 7946 0958"
                } else {
                    "+33 6 12 34 56 78"
                };
                let body = call_created(id, caller, Some(WEBHOOK_TOKEN)).to_string();
                let response = http.post(&url).body(body).send().await.unwrap();
                let status = response.status().as_u16();
                let answer: Value = response.json().await.unwrap_or(Value::Null);
                let mut log = log.lock().unwrap();
                *log.statuses.entry(status).or_default() += 1;
                if status == 200 {
                    log.acknowledged.push(id);
                    if answer["decision"]["rule"].is_null() {
                        log.undecided.push(answer);
                    }
                }
            }
        }));
    }

    let saves = 25 * scale();
    let file = rules.file();
    let mut last_valid = 0;
    for n in 1..=saves {
        let style = STYLES[n % STYLES.len()];
        let file = file.clone();
        tokio::task::spawn_blocking(move || save(&file, style, n))
            .await
            .unwrap();
        if matches!(style, Save::InPlace | Save::Rename | Save::SlowWrite) {
            last_valid = n;
        }
        // Sometimes faster than the debounce, sometimes slower.
        let pause = if n % 3 == 0 { 20 } else { 300 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    // End on a good save, and wait until it is in service.
    let final_version = saves + 1;
    let last = file.clone();
    tokio::task::spawn_blocking(move || save(&last, Save::Rename, final_version))
        .await
        .unwrap();
    let expected = format!("uk v{final_version}");
    eventually("the last save in service", || {
        let name = server
            .state
            .rules()
            .current()
            .rule_set
            .rules()
            .next()
            .and_then(|rule| rule.name.map(str::to_owned));
        let expected = expected.clone();
        async move { name.as_deref() == Some(expected.as_str()) }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }

    let log = Arc::into_inner(log).unwrap().into_inner().unwrap();
    let tried: usize = log.statuses.values().sum();
    let failed = tried - log.statuses.get(&200).copied().unwrap_or(0);
    let (_, status) = server.get_json("/status").await;
    println!(
        "reload storm: {saves} saves (last valid {last_valid}), {} applied, {} rejected; \
         webhooks tried={tried} failed={failed} undecided={}",
        status["counts"]["reloads_applied"],
        status["counts"]["reloads_rejected"],
        log.undecided.len()
    );
    assert!(tried > 100, "too little load: {tried}");
    assert_eq!(failed, 0, "webhooks not acknowledged: {:?}", log.statuses);
    // No half-written, empty or invalid set was ever in service: every
    // call met a rule set with its catch-all rule.
    assert!(
        log.undecided.is_empty(),
        "decided by a partial set: {:?}",
        &log.undecided[..1]
    );

    // Every acknowledged call transferred exactly once (stopping finishes
    // every queued action first).
    server.stop().await;
    let mut per_call: HashMap<String, usize> = HashMap::new();
    for request in transfers(&aircall).await {
        *per_call.entry(request.url.path().to_owned()).or_default() += 1;
    }
    assert_eq!(per_call.len(), log.acknowledged.len());
    assert!(
        per_call.values().all(|&count| count == 1),
        "a call was transferred twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivery_bursts_transfer_each_call_once() {
    let aircall = fake_aircall().await;
    let rules = RulesDir::new(&version(1).concat());
    let mut config = live_config(&rules.file(), &aircall);
    config.aircall.rate_limit_per_minute = 1_000_000;
    let server = Server::start(&config).await;
    server.wait_ready().await;

    let calls = 40 * scale() as i64;
    let copies = 8;
    let mut posts = Vec::new();
    for id in 1..=calls {
        // The same delivery, as Aircall retries it, all at once.
        let body = call_created(id, "+44 20 7946 0958", Some(WEBHOOK_TOKEN)).to_string();
        for _ in 0..copies {
            let (http, url, body) = (
                server.http.clone(),
                server.url("/aircall/calls"),
                body.clone(),
            );
            posts.push(tokio::spawn(async move {
                http.post(&url)
                    .body(body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }));
        }
    }
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    for post in posts {
        *statuses.entry(post.await.unwrap()).or_default() += 1;
    }
    let tried = calls as usize * copies;
    let failed = tried - statuses.get(&200).copied().unwrap_or(0);
    // Stopping finishes every queued action: a late duplicate would be
    // sent before this returns.
    server.stop().await;
    let mut per_call: HashMap<String, usize> = HashMap::new();
    for request in transfers(&aircall).await {
        *per_call.entry(request.url.path().to_owned()).or_default() += 1;
    }
    println!(
        "redelivery bursts: {calls} calls x {copies} copies, tried={tried} failed={failed}, \
         transfers={}",
        per_call.values().sum::<usize>()
    );
    assert_eq!(failed, 0, "{statuses:?}");
    assert_eq!(per_call.len(), calls as usize);
    assert!(per_call.values().all(|&count| count == 1), "{per_call:?}");
}
