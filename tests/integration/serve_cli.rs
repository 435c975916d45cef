//! `switchboard serve` as a process: start-up checks and their exit codes,
//! the dry-run banner, SIGHUP reloads, and SIGTERM draining the queue.
//! The fake Aircall runs in the test; the binary talks to it on 127.0.0.1.

#![expect(clippy::unwrap_used, reason = "tests")]

use crate::support;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use support::serve::process::{switchboard, ServeProcess};
use support::serve::*;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Runs `serve` to completion (for start-up failures).
fn serve_fails(args: &[&str]) -> (i32, String) {
    let output = switchboard()
        .arg("serve")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.code().is_some(),
        "killed by a signal: {output:?}"
    );
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn write_config(dir: &Path, yaml: &str) -> String {
    let path = dir.join("switchboard.yaml");
    std::fs::write(&path, yaml).unwrap();
    path.display().to_string()
}

#[test]
fn invalid_rules_stop_the_start_with_exit_1() {
    let rules = RulesDir::new("rule \"x\"\nwhen caller.contry == \"FR\"\nkeep\n");
    let (code, stderr) = serve_fails(&["--rules", &rules.file().display().to_string()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("error[unknown-subject]"), "{stderr}");
    assert!(stderr.contains("main.rules:2:6"), "{stderr}");
}

#[test]
fn config_errors_name_the_key_and_exit_2() {
    let rules = RulesDir::new(RULES);
    let config = write_config(rules.path(), "rules: main.rules\nqueue_capasity: 10\n");
    let (code, stderr) = serve_fails(&["--config", &config]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("queue_capasity"), "{stderr}");

    let config = write_config(
        rules.path(),
        "rules: main.rules\naircall:\n  api_id: x\n  api_token: ${SWITCHBOARD_TEST_UNSET_VARIABLE}\n",
    );
    let (code, stderr) = serve_fails(&["--config", &config]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("SWITCHBOARD_TEST_UNSET_VARIABLE") && stderr.contains("aircall.api_token"),
        "{stderr}"
    );
}

#[test]
fn live_mode_refuses_to_start_without_a_webhook_token() {
    let rules = RulesDir::new(RULES);
    let config = write_config(
        rules.path(),
        "rules: main.rules\naircall:\n  api_id: id\n  api_token: tok\n  base_url: http://127.0.0.1:9\n",
    );
    let (code, stderr) = serve_fails(&["--config", &config]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("webhook token"), "{stderr}");
}

async fn ping_answering(status: u16) -> MockServer {
    let aircall = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/ping"))
        .respond_with(ResponseTemplate::new(status).set_body_json(
            json!({"error": "Token revoked", "troubleshoot": "Create a new API key"}),
        ))
        .mount(&aircall)
        .await;
    aircall
}

fn live_yaml(aircall: &MockServer) -> String {
    format!(
        "rules: main.rules\nwebhook_tokens: [\"{WEBHOOK_TOKEN}\"]\nadmin_token: \"{ADMIN_TOKEN}\"\n\
         watch: off\naircall:\n  api_id: {API_ID}\n  api_token: {API_TOKEN}\n  base_url: {}\n  \
         rate_limit_per_minute: 6000\n",
        aircall.uri()
    )
}

#[tokio::test]
async fn refused_credentials_are_a_clear_start_up_error() {
    let rules = RulesDir::new(RULES);
    for (status, words) in [(401, "401 Unauthorized"), (403, "403 Forbidden")] {
        let aircall = ping_answering(status).await;
        let config = write_config(rules.path(), &live_yaml(&aircall));
        let (code, stderr) =
            tokio::task::spawn_blocking(move || serve_fails(&["--config", &config]))
                .await
                .unwrap();
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("refused the credentials"), "{stderr}");
        assert!(stderr.contains(words), "{stderr}");
        assert!(!stderr.contains(API_TOKEN), "{stderr}");
    }
}

#[tokio::test]
async fn issue_15_a_401_at_start_up_reports_what_aircall_said() {
    // Credentials were sent: the error must not claim Aircall saw none.
    let rules = RulesDir::new(RULES);
    let aircall = ping_answering(401).await;
    let config = write_config(rules.path(), &live_yaml(&aircall));
    let (code, stderr) = tokio::task::spawn_blocking(move || serve_fails(&["--config", &config]))
        .await
        .unwrap();
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("401 Unauthorized"), "{stderr}");
    assert!(
        stderr.contains("Token revoked") && stderr.contains("Create a new API key"),
        "{stderr}"
    );
    assert!(!stderr.contains("no credentials"), "{stderr}");
    assert!(!stderr.contains(API_TOKEN), "{stderr}");
}

#[tokio::test]
async fn dry_run_banner_sighup_reload_and_sigterm_exit() {
    let rules = RulesDir::new(RULES);
    let file = rules.file().display().to_string();
    let state = rules.path().join("state.db").display().to_string();
    let mut process = tokio::task::spawn_blocking(move || {
        let mut process =
            ServeProcess::start(&["--rules", &file, "--watch", "off", "--state", &state]);
        process.wait_for_line("DRY-RUN");
        process
    })
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let status: serde_json::Value = http
        .get(format!("{}/status", process.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["mode"], "dry-run");
    let first = status["rules"]["revision"].as_str().unwrap().to_owned();

    // Watching is off: only SIGHUP brings the change in.
    std::fs::write(rules.file(), RULES.replace("\"to alice\"", "\"alice\"")).unwrap();
    process.signal("HUP");
    let mut reloaded = None;
    for _ in 0..500 {
        let status: serde_json::Value = http
            .get(format!("{}/status", process.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["last_reload"]["trigger"] == "signal" {
            reloaded = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = reloaded.unwrap_or_else(|| unreachable!("SIGHUP did not reload"));
    assert_eq!(status["last_reload"]["outcome"], "applied");
    assert_ne!(status["rules"]["revision"], first.as_str());

    process.signal("TERM");
    let code = tokio::task::spawn_blocking(move || {
        let code = process.wait_exit();
        assert!(
            process
                .seen
                .iter()
                .any(|line| line.contains("SIGTERM received")),
            "{}",
            process.seen.join("\n")
        );
        code
    })
    .await
    .unwrap();
    assert_eq!(code, 0);
}

/// SIGTERM while a transfer waits on a slow Aircall: the process finishes
/// it before exiting.
#[tokio::test]
async fn sigterm_finishes_queued_transfers() {
    let aircall = fake_aircall_with_slow_transfers().await;
    let rules = RulesDir::new(RULES);
    let config = write_config(rules.path(), &live_yaml(&aircall));
    let mut process =
        tokio::task::spawn_blocking(move || ServeProcess::start(&["--config", &config]))
            .await
            .unwrap();
    let http = reqwest::Client::new();
    let base = process.base.clone();
    eventually("readiness", || {
        let http = http.clone();
        let url = format!("{base}/readyz");
        async move { http.get(url).send().await.is_ok_and(|r| r.status() == 200) }
    })
    .await;
    for id in [8001, 8002] {
        let response = http
            .post(format!("{}/aircall/calls", process.base))
            .body(call_created(id, "+44 20 7946 0958", Some(WEBHOOK_TOKEN)).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
    }
    process.signal("TERM");
    let (code, lines) = tokio::task::spawn_blocking(move || {
        let code = process.wait_exit();
        (code, process.seen.clone())
    })
    .await
    .unwrap();
    assert_eq!(code, 0);
    // Both answers (204 after 700 ms) were waited for before exiting.
    for id in ["8001", "8002"] {
        assert!(
            lines
                .iter()
                .any(|line| line.contains(": sent") && line.contains(&format!("call_id={id}"))),
            "no completed transfer for {id} in:\n{}",
            lines.join("\n")
        );
    }
    let sent = transfers(&aircall).await;
    assert_eq!(sent.len(), 2, "queued transfers were dropped at shutdown");
}

async fn fake_aircall_with_slow_transfers() -> MockServer {
    let aircall = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/ping"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ping": "pong"})))
        .mount(&aircall)
        .await;
    for (route, key, items) in [
        (
            "/v1/users",
            "users",
            json!([{"id": 101, "email": "alice@example.com"}]),
        ),
        ("/v1/teams", "teams", json!([])),
        ("/v1/tags", "tags", json!([])),
        ("/v1/users/availabilities", "users", json!([])),
    ] {
        Mock::given(method("GET"))
            .and(path(route))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"meta": {}, key: items})))
            .mount(&aircall)
            .await;
    }
    Mock::given(method("POST"))
        .and(path_regex(r"^/v1/calls/\d+/transfers$"))
        .respond_with(ResponseTemplate::new(204).set_delay(Duration::from_millis(700)))
        .mount(&aircall)
        .await;
    aircall
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn issue_15_serve_raises_its_open_files_limit_and_caps_connections_by_it() {
    let rules = RulesDir::new(RULES);
    let file = rules.file().display().to_string();
    let state = rules.path().join("state.db").display().to_string();
    let mut process = tokio::task::spawn_blocking(move || {
        let mut process = ServeProcess::start_with_open_files(
            256,
            &["--rules", &file, "--watch", "off", "--state", &state],
        );
        process.wait_for_line("accepting up to");
        process
    })
    .await
    .unwrap();
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", process.id())).unwrap();
    let open_files: Vec<u64> = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    assert_eq!(open_files.len(), 2, "{limits}");
    let (soft, hard) = (open_files[0], open_files[1]);
    assert_eq!(soft, hard, "{limits}");
    if hard > 256 {
        let raised = process.wait_for_line("open-files limit raised");
        assert!(raised.contains("before=256"), "{raised}");
    }
    let cap = switchboard::server::open_files::default_max_connections(hard);
    let accepting = process.wait_for_line("accepting up to");
    assert!(
        accepting.contains(&format!("accepting up to {cap} connections")),
        "{accepting}"
    );
    process.signal("TERM");
    assert_eq!(process.wait_exit(), 0);
}
