//! Logs: every decision is logged once with call id, rule, actions and
//! revision; no secret (API token, webhook token, admin token, the Basic
//! header, tokens a client guessed) ever appears in them.
//!
//! One test only: it installs the process-wide log subscriber. Every test
//! of the binary runs in this process, so the capture holds their lines
//! too: no secret may appear in any of them, and the decisions are looked
//! for by this test's own call ids.

#![expect(clippy::unwrap_used, reason = "tests")]

use crate::support;
use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;
use support::serve::*;
use switchboard::config::LogFormat;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> MakeWriter<'w> for Captured {
    type Writer = Captured;
    fn make_writer(&'w self) -> Captured {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_are_logged_once_and_secrets_never() {
    let captured = Captured::default();
    // Everything of ours down to trace, everyone else at debug: more than
    // production ever logs.
    let subscriber = switchboard::telemetry::subscriber(
        LogFormat::Json,
        EnvFilter::new("debug,switchboard=trace"),
        captured.clone(),
    );
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let aircall = fake_aircall().await;
    let rules = RulesDir::new(RULES);
    let server = Server::start(&live_config(&rules.file(), &aircall)).await;
    server.wait_ready().await;

    let guessed = "guessed-token-4e1d";
    let numeric_token = 918_273_645_u64;
    server
        .webhook(&call_created(7001, "+44 20 7946 0958", Some(WEBHOOK_TOKEN)))
        .await;
    server
        .webhook(&call_created(7002, NOBODY, Some(WEBHOOK_TOKEN)))
        .await;
    server
        .webhook(&call_created(7003, "+44 20 7946 0958", Some(guessed)))
        .await;
    let mut numeric = call_created(7004, NOBODY, None);
    numeric["token"] = json!(numeric_token);
    let (status, answer) = server.webhook(&numeric).await;
    assert_eq!(status, 400);
    assert!(!answer.to_string().contains(&numeric_token.to_string()));
    server
        .webhook(&event(
            "user.opened",
            json!({"id": 101, "email": "alice@example.com", "available": true}),
            Some(WEBHOOK_TOKEN),
        ))
        .await;
    server.admin("/admin/reload", Some(guessed), "").await;
    std::fs::write(
        rules.file(),
        "rule \"x\"\nwhen caller.contry == \"FR\"\nkeep\n",
    )
    .unwrap();
    server.admin("/admin/reload", Some(ADMIN_TOKEN), "").await;
    server.admin("/admin/check", Some(ADMIN_TOKEN), RULES).await;
    eventually("the transfer", || async {
        transfers(&aircall).await.len() == 1
    })
    .await;
    // The fake has the request before the dispatcher has the answer: wait
    // for the outcome line, not for a quiet moment.
    eventually("the transfer's outcome in the logs", || {
        let logged = captured
            .text()
            .lines()
            .any(|line| line.contains(r#""call_id":7001"#) && line.contains(r#""status":"sent""#));
        async move { logged }
    })
    .await;
    server.stop().await;

    let logs = captured.text();
    for secret in [
        WEBHOOK_TOKEN,
        ADMIN_TOKEN,
        API_TOKEN,
        BASIC_AUTH.trim_start_matches("Basic "),
        guessed,
        &numeric_token.to_string(),
    ] {
        assert!(
            !logs.contains(secret),
            "secret {secret:?} found in the logs:\n{logs}"
        );
    }

    // Each decision exactly once, with its facts as fields.
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let ours =
        |line: &&serde_json::Value| (7001..=7004).contains(&line["call_id"].as_i64().unwrap_or(0));
    let decisions: Vec<&serde_json::Value> = lines
        .iter()
        .filter(ours)
        .filter(|line| {
            line["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("decision:"))
        })
        .collect();
    assert_eq!(decisions.len(), 2, "{decisions:?}");
    let first = decisions
        .iter()
        .find(|line| line["call_id"] == 7001)
        .unwrap();
    assert_eq!(first["rule"], "to alice");
    assert_eq!(
        first["message"],
        "decision: transfer to agent alice@example.com"
    );
    assert_eq!(first["revision"].as_str().unwrap().len(), 12, "{first}");
    let kept = decisions
        .iter()
        .find(|line| line["call_id"] == 7002)
        .unwrap();
    assert_eq!(kept["rule"], "none");
    assert_eq!(kept["message"], "decision: keep (no rule matched)");
    // The transfer's outcome is logged by the dispatcher's sink.
    assert!(lines.iter().any(|line| line["call_id"] == 7001
        && line["status"] == "sent"
        && line["message"]
            .as_str()
            .is_some_and(|m| m.contains("transfer to user 101"))));
    // The rejected reload is logged with the rendered diagnostics.
    assert!(lines.iter().any(|line| line["message"]
        .as_str()
        .is_some_and(|m| m.contains("rules rejected") && m.contains("error[unknown-subject]"))));
}
