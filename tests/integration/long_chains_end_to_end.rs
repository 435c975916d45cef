//! Issue 15 §1, end to end: a rules file whose condition chains 100,000
//! terms goes through every path that compiles rules. `serve` (a real
//! process) starts on it, checks another such file on `POST
//! /admin/check`, reloads one on SIGHUP, decides a webhook with it, and is
//! still answering afterwards; the watcher reloads one in process (a
//! stack overflow there would abort this test binary); `check` and `fmt`
//! exit 0 on such files. Before the fix, each of these paths aborted
//! ("thread has overflowed its stack").
//!
//! A debug build compiles such a file in a few seconds, so deadlines here
//! are generous; nothing waits longer than it has to.

#![expect(clippy::unwrap_used, reason = "tests")]

use crate::support;
use crate::support::cli;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cli::{Cmd, Rules};
use serde_json::Value;
use support::serve::process::ServeProcess;
use support::serve::{call_created, RulesDir, ADMIN_TOKEN};
use switchboard::config::WatchMode;
use switchboard::metrics::Metrics;
use switchboard::reload::{spawn_watcher, RulesHandle, Trigger, WatchConfig};

const TERMS: usize = 100_000;

/// A caller whose number starts with `+4420`: only the last term of a
/// [`chain_file`] matches it.
const LONDON: &str = "+44 20 7946 0958";

/// A rule `name` whose condition chains `TERMS` caller prefixes with `op`
/// (`or` or `and`): `caller starts with "+990" or ... or caller starts
/// with "+4420"`. An `or` chain holds for [`LONDON`] at its last term; an
/// `and` chain never holds. Then a catch-all. About 2 MB on one line.
fn chain_file(name: &str, op: &str) -> String {
    let mut terms: Vec<String> = (0..TERMS - 1)
        .map(|i| format!("caller starts with \"+99{i}\""))
        .collect();
    terms.push("caller starts with \"+4420\"".to_owned());
    format!(
        "rule \"{name}\"\nwhen {}\nkeep\n\nrule \"rest\"\nwhen always\nkeep\n",
        terms.join(&format!(" {op} "))
    )
}

/// Polls `check` every 50 ms until it holds, for at most two minutes.
async fn within_two_minutes<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(120);
    while !check().await {
        assert!(Instant::now() < deadline, "still waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn status(http: &reqwest::Client, base: &str) -> Value {
    http.get(format!("{base}/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_15_serve_starts_checks_reloads_and_decides_with_100_000_term_chains() {
    let rules = RulesDir::new(&chain_file("long or", "or"));
    let config = rules.path().join("switchboard.yaml");
    std::fs::write(
        &config,
        format!("rules: main.rules\nadmin_token: \"{ADMIN_TOKEN}\"\nwatch: off\n"),
    )
    .unwrap();
    let config = config.display().to_string();
    let state = rules.path().join("state.db").display().to_string();
    // Start-up compiles the chain.
    let process = tokio::task::spawn_blocking(move || {
        ServeProcess::start(&["--config", &config, "--state", &state])
    })
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let base = process.base.clone();
    let first = status(&http, &base).await["rules"]["revision"]
        .as_str()
        .unwrap()
        .to_owned();

    // The webhook is decided by the last term of the chain.
    let answer: Value = http
        .post(format!("{base}/aircall/calls"))
        .json(&call_created(1, LONDON, None))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["decision"]["rule"]["name"], "long or", "{answer}");

    // `POST /admin/check` compiles another chain without activating it.
    let checked = http
        .post(format!("{base}/admin/check"))
        .bearer_auth(ADMIN_TOKEN)
        .body(chain_file("long and", "and"))
        .send()
        .await
        .unwrap();
    assert_eq!(checked.status().as_u16(), 200);
    let checked: Value = checked.json().await.unwrap();
    assert_eq!(checked["valid"], true, "{checked}");
    assert_eq!(checked["errors"], 0, "{checked}");

    // SIGHUP reloads a changed file.
    std::fs::write(rules.file(), chain_file("long and", "and")).unwrap();
    process.signal("HUP");
    within_two_minutes("the SIGHUP reload", || {
        let http = http.clone();
        let base = base.clone();
        async move { status(&http, &base).await["last_reload"]["trigger"] == "signal" }
    })
    .await;
    let after = status(&http, &base).await;
    assert_eq!(after["last_reload"]["outcome"], "applied", "{after}");
    assert_ne!(after["rules"]["revision"], first.as_str(), "{after}");

    // The `and` chain does not hold: the catch-all decides.
    let answer: Value = http
        .post(format!("{base}/aircall/calls"))
        .json(&call_created(2, LONDON, None))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["decision"]["rule"]["name"], "rest", "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_15_the_watcher_reloads_a_100_000_term_chain() {
    let rules = RulesDir::new("rule \"short\"\nwhen always\nkeep\n");
    let handle = RulesHandle::load(rules.file(), Arc::new(Metrics::new())).unwrap();
    let _watcher = spawn_watcher(
        handle.clone(),
        WatchConfig {
            mode: WatchMode::Inotify,
            debounce: Duration::from_millis(50),
            poll_interval: Duration::from_millis(50),
        },
    )
    .unwrap();
    std::fs::write(rules.file(), chain_file("long or", "or")).unwrap();
    within_two_minutes("the watcher's reload", || {
        let first = handle
            .current()
            .rule_set
            .rules()
            .next()
            .and_then(|rule| rule.name.map(str::to_owned));
        async move { first.as_deref() == Some("long or") }
    })
    .await;
    let last = handle.last_reload().unwrap();
    assert_eq!(last.outcome, "applied");
    assert_eq!(last.trigger, Trigger::Watch);
}

#[test]
fn issue_15_check_and_fmt_exit_0_on_100_000_term_chains() {
    let rules = Rules::new();
    let or = rules.write("or.rules", &chain_file("long or", "or"));
    let and = rules.write("and.rules", &chain_file("long and", "and"));
    for path in [&or, &and] {
        let output = Cmd::new().arg("check").arg(path).run();
        output.code(0);
        assert_eq!(output.stdout, format!("{}: ok (2 rules)\n", path.display()));
    }
    // Rewrites the `or` file (one term a line) and leaves it valid.
    let output = Cmd::new().arg("fmt").arg(&or).run();
    output.code(0);
    assert_eq!(
        output.stdout,
        format!(
            "formatted {}\n1 file reformatted, 0 already formatted\n",
            or.display()
        )
    );
    let formatted = std::fs::read_to_string(&or).unwrap();
    assert_eq!(formatted.lines().count(), TERMS + 6);
    Cmd::new().args(["fmt", "--check"]).arg(&or).run().code(0);
    Cmd::new().arg("check").arg(&or).run().code(0);
    // From stdin to stdout.
    let output = Cmd::new()
        .args(["fmt", "-"])
        .stdin(chain_file("long and", "and"))
        .run();
    output.code(0);
    assert_eq!(output.stdout.lines().count(), TERMS + 6);
}
