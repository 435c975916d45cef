//! `POST /aircall/calls` end to end: a real server on 127.0.0.1, a fake
//! Aircall (wiremock) on 127.0.0.1, real HTTP both ways.

#![expect(clippy::unwrap_used, reason = "tests")]

use crate::support;
use std::time::Duration;

use serde_json::{json, Value};
use support::serve::*;
use switchboard::config::Mode;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn body_json(request: &wiremock::Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

#[tokio::test]
async fn bad_input_gets_the_right_status_and_sends_nothing() {
    let aircall = fake_aircall().await;
    let rules = RulesDir::new(RULES);
    let server = Server::start(&live_config(&rules.file(), &aircall)).await;
    server.wait_ready().await;
    let alice = "+44 20 7946 0958";

    // No token, wrong token: 401, whatever the body says.
    let (status, answer) = server.webhook(&call_created(1, alice, None)).await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["error"], "invalid or missing webhook token");
    let (status, _) = server
        .webhook(&call_created(2, alice, Some("not-the-token")))
        .await;
    assert_eq!(status, 401);

    // Malformed JSON: 400 naming the problem.
    let (status, answer) = server
        .post_raw("/aircall/calls", b"{\"event\": \"call.created\",".to_vec())
        .await;
    assert_eq!(status, 400);
    assert!(
        answer["error"].as_str().unwrap().contains("not valid JSON"),
        "{answer}"
    );

    // Valid JSON that is not an envelope: 400 naming the missing field.
    let (status, answer) = server.webhook(&json!({"hello": "world"})).await;
    assert_eq!(status, 400);
    assert!(
        answer["error"].as_str().unwrap().contains("event"),
        "{answer}"
    );

    // Wrong types inside data: 400 naming the field.
    let mut wrong = call_created(3, alice, Some(WEBHOOK_TOKEN));
    wrong["data"]["id"] = json!("three");
    let (status, answer) = server.webhook(&wrong).await;
    assert_eq!(status, 400);
    assert!(
        answer["error"].as_str().unwrap().contains("data.id"),
        "{answer}"
    );
    let mut wrong = call_created(4, alice, Some(WEBHOOK_TOKEN));
    wrong["timestamp"] = json!("yesterday");
    let (status, answer) = server.webhook(&wrong).await;
    assert_eq!(status, 400);
    assert!(
        answer["error"].as_str().unwrap().contains("timestamp"),
        "{answer}"
    );

    // Over 1 MiB: 413.
    let mut huge = call_created(5, alice, Some(WEBHOOK_TOKEN));
    huge["data"]["padding"] = json!("x".repeat(1024 * 1024));
    let (status, _) = server.webhook(&huge).await;
    assert_eq!(status, 413);

    // Unknown event: acknowledged with 200 and counted.
    let (status, answer) = server
        .webhook(&event(
            "brand_new.thing",
            json!({"id": 9}),
            Some(WEBHOOK_TOKEN),
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["status"], "ignored");

    // Wrong method on the webhook route.
    let (status, _) = server.get("/aircall/calls").await;
    assert_eq!(status, 405);

    // Still alive, nothing was transferred, everything was counted.
    assert_eq!(server.get("/healthz").await, (200, "ok\n".to_owned()));
    assert!(transfers(&aircall).await.is_empty());
    let (_, metrics) = server.get("/metrics").await;
    for line in [
        r#"switchboard_webhooks_total{event="call.created",outcome="unauthorized"} 2"#,
        r#"switchboard_webhooks_total{event="other",outcome="ignored"} 1"#,
        r#"switchboard_webhooks_total{event="call.created",outcome="bad_request"} 1"#,
        // Not an envelope: the event is unknown.
        r#"switchboard_webhooks_total{event="other",outcome="bad_request"} 3"#,
        r#"switchboard_webhooks_total{event="other",outcome="too_large"} 1"#,
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }
    let (_, status) = server.get_json("/status").await;
    assert_eq!(status["counts"]["rejected_requests"], 7, "{status}");
    assert_eq!(status["counts"]["ignored_events"], 1, "{status}");
    server.stop().await;
    assert!(transfers(&aircall).await.is_empty());
}

#[tokio::test]
async fn issue_15_trailing_bytes_and_non_positive_call_ids_are_malformed() {
    let aircall = fake_aircall().await;
    let rules = RulesDir::new(RULES);
    let server = Server::start(&live_config(&rules.file(), &aircall)).await;
    server.wait_ready().await;
    let alice = "+44 20 7946 0958";

    // A valid envelope followed by anything but whitespace: 400.
    let mut body = call_created(2001, alice, Some(WEBHOOK_TOKEN))
        .to_string()
        .into_bytes();
    body.extend_from_slice(b"garbage");
    let (status, answer) = server.post_raw("/aircall/calls", body).await;
    assert_eq!(status, 400, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.contains("not valid JSON") && error.contains("trailing characters"),
        "{answer}"
    );

    // A call id of zero or below: 400 naming data.id, nothing decided.
    for id in [0, -1] {
        let (status, answer) = server
            .webhook(&call_created(id, alice, Some(WEBHOOK_TOKEN)))
            .await;
        assert_eq!(status, 400, "{answer}");
        assert!(
            answer["error"].as_str().unwrap().contains("data.id"),
            "{answer}"
        );
    }

    // The same call, well formed, is decided and transferred: the ones
    // above were refused for their shape, not remembered as seen.
    let (status, answer) = server
        .webhook(&call_created(2001, alice, Some(WEBHOOK_TOKEN)))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "decided");
    eventually("the transfer of call 2001", || async {
        !transfers(&aircall).await.is_empty()
    })
    .await;
    server.stop().await;
    let sent = transfers(&aircall).await;
    let paths: Vec<&str> = sent.iter().map(|request| request.url.path()).collect();
    assert_eq!(paths, ["/v1/calls/2001/transfers"]);
}

#[tokio::test]
async fn any_content_type_is_accepted() {
    // Aircall's exact Content-Type is not confirmed (one observation:
    // application/json): the body is read as JSON whatever it says.
    let rules = RulesDir::new(RULES);
    let server = Server::start(&dry_run_config(&rules.file())).await;
    let body = call_created(2101, NOBODY, None).to_string();
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut request = server
            .http
            .post(server.url("/aircall/calls"))
            .body(body.clone());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{content_type:?}: {answer}");
        // The first is decided, the others are its redeliveries.
        assert!(
            answer["status"] == "decided" || answer["status"] == "duplicate",
            "{content_type:?}: {answer}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn transfers_reach_aircall_for_user_team_and_number_targets() {
    let aircall = fake_aircall().await;
    let rules = RulesDir::new(RULES);
    let server = Server::start(&live_config(&rules.file(), &aircall)).await;
    server.wait_ready().await;
    // The presence refresher polls once at start; let it happen so the
    // steady-state count below is exact.
    eventually("the first availability poll", || async {
        aircall
            .received_requests()
            .await
            .unwrap()
            .iter()
            .any(|r| r.url.path() == "/v1/users/availabilities")
    })
    .await;
    let before = aircall.received_requests().await.unwrap().len();

    let cases = [
        (
            1001,
            "+44 20 7946 0958",
            "to alice",
            json!({"user_id": 101}),
        ),
        (
            1002,
            "+44 20 7946 0959",
            "to sales",
            json!({"team_id": 7, "dispatching_strategy": "longest_idle"}),
        ),
        (
            1003,
            "+44 20 7946 0960",
            "to a number",
            json!({"number": "+33176360695"}),
        ),
        // ghost@example.com is not an Aircall user: the fallback team.
        (1004, "+44 20 7946 0961", "fallback", json!({"team_id": 7})),
    ];
    for (id, caller, rule, _) in &cases {
        let (status, answer) = server
            .webhook(&call_created(*id, caller, Some(WEBHOOK_TOKEN)))
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["status"], "decided");
        assert_eq!(answer["decision"]["rule"]["name"], *rule, "{answer}");
        assert_eq!(answer["decision"]["actions"][0]["type"], "transfer");
    }
    // A caller no rule matches: kept, nothing sent.
    let (status, answer) = server
        .webhook(&call_created(1005, NOBODY, Some(WEBHOOK_TOKEN)))
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["decision"]["actions"][0]["type"], "keep");

    eventually("four transfers", || async {
        transfers(&aircall).await.len() >= 4
    })
    .await;
    let sent = transfers(&aircall).await;
    assert_eq!(sent.len(), 4);
    for (id, _, _, body) in &cases {
        let request = sent
            .iter()
            .find(|r| r.url.path() == format!("/v1/calls/{id}/transfers"))
            .unwrap_or_else(|| unreachable!("no transfer for call {id}"));
        assert_eq!(request.method.as_str(), "POST");
        assert_eq!(body_json(request), *body, "call {id}");
        assert_eq!(
            request
                .headers
                .get("authorization")
                .unwrap()
                .to_str()
                .unwrap(),
            BASIC_AUTH
        );
        assert!(request
            .headers
            .get("user-agent")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("switchboard/"));
    }
    // Steady state: exactly one API request per routed call.
    let after = aircall.received_requests().await.unwrap().len();
    assert_eq!(after - before, 4);

    // Outcomes are recorded after the transfers complete: wait for them.
    let expected = [
        r#"switchboard_decisions_total{rule="to alice",action="transfer"} 1"#,
        r#"switchboard_decisions_total{rule="none",action="keep"} 1"#,
        r#"switchboard_actions_total{action="transfer",status="sent"} 4"#,
        r#"switchboard_aircall_requests_total{endpoint="transfer",status="204"} 4"#,
        r#"switchboard_aircall_request_duration_seconds_count{endpoint="transfer"} 4"#,
    ];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut metrics = String::new();
    while std::time::Instant::now() < deadline {
        metrics = server.get("/metrics").await.1;
        if expected.iter().all(|line| metrics.contains(line)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for line in expected {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_duplicate_call_created_never_transfers_twice() {
    let aircall = fake_aircall().await;
    let rules = RulesDir::new(RULES);
    let server = Server::start(&live_config(&rules.file(), &aircall)).await;
    server.wait_ready().await;
    let alice = "+44 20 7946 0958";

    let first = call_created(2001, alice, Some(WEBHOOK_TOKEN));
    let (status, answer) = server.webhook(&first).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("decided")));
    // Aircall redelivers the same event.
    let (status, answer) = server.webhook(&first).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate"))
    );
    // The child IVR number delivers its own copy: same data.id.
    let mut child = call_created(2001, alice, Some(WEBHOOK_TOKEN));
    child["data"]["number"]["id"] = json!(5678);
    let (status, answer) = server.webhook(&child).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate"))
    );

    // Many copies of another call at once: one decision, one transfer.
    let mut copies = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let http = server.http.clone();
        let url = server.url("/aircall/calls");
        let body = call_created(2002, alice, Some(WEBHOOK_TOKEN)).to_string();
        copies.spawn(async move {
            let response = http.post(url).body(body).send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        });
    }
    let answers = copies.join_all().await;
    let decided = answers
        .iter()
        .filter(|(status, answer)| *status == 200 && answer["status"] == "decided")
        .count();
    assert_eq!(decided, 1, "{answers:?}");
    assert!(answers.iter().all(|(status, _)| *status == 200));

    // Stopping drains the queue; then count.
    server.stop().await;
    let sent = transfers(&aircall).await;
    let per_call = |id: i64| {
        sent.iter()
            .filter(|r| r.url.path() == format!("/v1/calls/{id}/transfers"))
            .count()
    };
    assert_eq!(per_call(2001), 1);
    assert_eq!(per_call(2002), 1);
}

#[tokio::test]
async fn dry_run_decides_and_sends_nothing() {
    let aircall = fake_aircall().await;
    let rules = RulesDir::new(RULES);
    // A base URL but no credentials: dry-run.
    let mut config = dry_run_config(&rules.file());
    config.aircall.base_url = aircall.uri();
    assert_eq!(config.mode(), Mode::DryRun);
    let server = Server::start(&config).await;

    // Without configured webhook tokens, dry-run accepts any (and warns).
    for (id, caller) in [(3001, "+44 20 7946 0958"), (3002, "+44 20 7946 0960")] {
        let (status, answer) = server.webhook(&call_created(id, caller, None)).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["status"], "decided");
        assert_eq!(answer["decision"]["actions"][0]["type"], "transfer");
    }
    let (_, status) = server.get_json("/status").await;
    assert_eq!(status["mode"], "dry-run");
    assert!(status["mode_note"]
        .as_str()
        .unwrap()
        .contains("nothing is sent"));
    let (ready, readiness) = server.get_json("/readyz").await;
    assert_eq!(ready, 200, "{readiness}");
    assert_eq!(readiness["directory_loaded"], Value::Null);
    server.stop().await;
    assert!(
        aircall.received_requests().await.unwrap().is_empty(),
        "dry-run sent requests to Aircall"
    );
}

#[tokio::test]
async fn dry_run_with_tokens_still_checks_them() {
    let rules = RulesDir::new(RULES);
    let mut config = dry_run_config(&rules.file());
    config.webhook_tokens = vec![switchboard::config::Secret::new(WEBHOOK_TOKEN)];
    let server = Server::start(&config).await;
    let (status, _) = server
        .webhook(&call_created(1, NOBODY, Some("guess")))
        .await;
    assert_eq!(status, 401);
    let (status, _) = server
        .webhook(&call_created(1, NOBODY, Some(WEBHOOK_TOKEN)))
        .await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[tokio::test]
async fn a_full_queue_answers_503_and_the_redelivery_is_decided() {
    let aircall = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/ping"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ping": "pong"})))
        .mount(&aircall)
        .await;
    for (route, key) in [
        ("/v1/users", "users"),
        ("/v1/teams", "teams"),
        ("/v1/tags", "tags"),
    ] {
        Mock::given(method("GET"))
            .and(path(route))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"meta": {}, key: []})))
            .mount(&aircall)
            .await;
    }
    // Slow transfers keep the workers busy.
    Mock::given(method("POST"))
        .and(path_regex(r"^/v1/calls/\d+/transfers$"))
        .respond_with(ResponseTemplate::new(204).set_delay(Duration::from_millis(800)))
        .mount(&aircall)
        .await;
    let rules = RulesDir::new(RULES);
    let mut config = live_config(&rules.file(), &aircall);
    config.queue_capacity = 1;
    let server = Server::start(&config).await;
    server.wait_ready().await;

    let mut refused = None;
    // Workers take jobs concurrently (16 at a time), then one waits in the
    // queue: the call after that is refused.
    for id in 4001..4060 {
        let (status, answer) = server
            .webhook(&call_created(id, "+44 20 7946 0960", Some(WEBHOOK_TOKEN)))
            .await;
        match status {
            200 => {}
            503 => {
                assert!(answer["error"].as_str().unwrap().contains("queue is full"));
                refused = Some(id);
                break;
            }
            other => unreachable!("unexpected status {other}: {answer}"),
        }
    }
    let refused = refused.unwrap_or_else(|| unreachable!("the queue never filled"));
    // Aircall redelivers after the 503: once there is room, it is decided
    // (not taken for a duplicate) and transferred.
    eventually("the redelivery to be accepted", || async {
        let (status, answer) = server
            .webhook(&call_created(
                refused,
                "+44 20 7946 0960",
                Some(WEBHOOK_TOKEN),
            ))
            .await;
        assert_ne!(answer["status"], "duplicate", "{answer}");
        status == 200
    })
    .await;
    server.stop().await;
    let sent = transfers(&aircall).await;
    assert_eq!(
        sent.iter()
            .filter(|r| r.url.path() == format!("/v1/calls/{refused}/transfers"))
            .count(),
        1
    );
}

#[tokio::test]
async fn user_events_feed_presence_and_the_directory() {
    let aircall = fake_aircall().await;
    let rules = RulesDir::new(
        r#"
agent carol = "carol@example.com"
rule "carol if free"
when carol is available
transfer to carol
"#,
    );
    let server = Server::start(&live_config(&rules.file(), &aircall)).await;
    server.wait_ready().await;

    // Carol joins: user.created teaches the directory her id at once.
    let carol = json!({"id": 303, "email": "carol@example.com", "name": "Carol",
                       "available": true, "availability_status": "available"});
    let (status, answer) = server
        .webhook(&event("user.created", carol.clone(), Some(WEBHOOK_TOKEN)))
        .await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("applied")));
    // She opens her app: available.
    let (status, _) = server
        .webhook(&event("user.opened", carol.clone(), Some(WEBHOOK_TOKEN)))
        .await;
    assert_eq!(status, 200);
    let (_, answer) = server
        .webhook(&call_created(5001, NOBODY, Some(WEBHOOK_TOKEN)))
        .await;
    assert_eq!(
        answer["decision"]["rule"]["name"], "carol if free",
        "{answer}"
    );
    eventually("the transfer to carol", || async {
        transfers(&aircall)
            .await
            .iter()
            .any(|r| body_json(r) == json!({"user_id": 303}))
    })
    .await;

    // A user event with a wrong shape is a bad request.
    let (status, _) = server
        .webhook(&event(
            "user.closed",
            json!({"id": "x"}),
            Some(WEBHOOK_TOKEN),
        ))
        .await;
    assert_eq!(status, 400);
    server.stop().await;
}

#[tokio::test]
async fn live_mode_is_not_ready_until_the_directory_loads() {
    let aircall = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/ping"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ping": "pong"})))
        .mount(&aircall)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/users"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&aircall)
        .await;
    let rules = RulesDir::new(RULES);
    let server = Server::start(&live_config(&rules.file(), &aircall)).await;
    let (status, readiness) = server.get_json("/readyz").await;
    assert_eq!(status, 503, "{readiness}");
    assert_eq!(readiness["directory_loaded"], false);
    assert_eq!(readiness["ready"], false);
    let (_, status) = server.get_json("/status").await;
    assert_eq!(status["mode"], "live");
    assert_eq!(status["directory"]["loaded"], false);
    server.stop().await;
}

#[tokio::test]
async fn operations_endpoints() {
    let rules = RulesDir::new(RULES);
    let server = Server::start(&dry_run_config(&rules.file())).await;
    assert_eq!(server.get("/healthz").await.0, 200);
    let (status, answer) = server.get_json("/nope").await;
    assert_eq!(status, 404);
    assert_eq!(answer["error"], "no such endpoint");

    server
        .webhook(&call_created(6001, "+44 20 7946 0958", None))
        .await;
    let (status, report) = server.get_json("/status").await;
    assert_eq!(status, 200);
    let revision = report["rules"]["revision"].as_str().unwrap();
    assert_eq!(revision.len(), 12, "{report}");
    assert_eq!(
        report["rules"]["files"][0],
        rules.file().display().to_string()
    );
    assert_eq!(report["rules"]["rule_count"], 4);
    assert_eq!(report["queue"]["capacity"], 1024);
    assert_eq!(report["counts"]["decisions"], 1);
    assert_eq!(report["counts"]["transfers_decided"], 1);
    assert_eq!(report["last_reload"], Value::Null);
    assert!(report["directory"]["users"].is_number());

    let response = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let metrics = response.text().await.unwrap();
    assert!(metrics.contains(r#"switchboard_decisions_total{rule="to alice",action="transfer"} 1"#));
    assert!(metrics.contains("switchboard_dispatch_queue_depth"));
    assert!(metrics.ends_with("# EOF\n"));
    server.stop().await;
}

#[tokio::test]
async fn a_stalled_client_does_not_hold_up_shutdown() {
    use tokio::io::AsyncWriteExt;
    let rules = RulesDir::new(RULES);
    let mut config = dry_run_config(&rules.file());
    config.shutdown_grace = Duration::from_millis(300);
    let server = Server::start(&config).await;
    // Headers promise 100 bytes of body; only one ever comes.
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut stalled = tokio::net::TcpStream::connect(address).await.unwrap();
    stalled
        .write_all(b"POST /aircall/calls HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        .await
        .unwrap();
    // Let the server start reading it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(5), server.stop())
        .await
        .unwrap_or_else(|_| unreachable!("shutdown waited for the stalled client"));
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    drop(stalled);
}
