//! Presence and the directory kept current from webhooks and polls, against
//! a fake Aircall (wiremock on 127.0.0.1), and the whole path a webhook
//! takes: presence -> rules -> dispatcher -> one transfer.

#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

use crate::support;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use support::aircall::{client, page, received, Records};
use switchboard::aircall::directory::Directory;
use switchboard::aircall::dispatch::{DispatchConfig, DispatchOutcome, Dispatcher, Job};
use switchboard::aircall::presence::{PresenceBook, PresenceUpdate};
use switchboard::aircall::webhook::Envelope;
use switchboard::lang::{
    self, AvailabilityView, CheckOptions, Context, Presence, Sources, UserRef,
};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn mount_users(server: &MockServer, users: serde_json::Value) {
    Mock::given(method("GET"))
        .and(path("/v1/users"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page("users", users, None)))
        .mount(server)
        .await;
}

async fn mount_empty(server: &MockServer, list: &str) {
    Mock::given(method("GET"))
        .and(path(format!("/v1/{list}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(list, json!([]), None)))
        .mount(server)
        .await;
}

fn envelope(event: &str, timestamp: i64, data: &serde_json::Value) -> Envelope {
    let body = json!({
        "resource": event.split('.').next().unwrap(),
        "event": event,
        "timestamp": timestamp,
        "token": "58ffd2bc5f3113f7bebf210a49299a1b",
        "data": data,
    });
    Envelope::from_slice(body.to_string().as_bytes()).unwrap()
}

fn alice() -> serde_json::Value {
    json!({ "id": 731416, "email": "alice@example.com", "name": "Alice", "available": true,
            "availability_status": "available", "language": "en-US", "wrap_up_time": 90 })
}

fn call(id: i64, user: Option<serde_json::Value>) -> serde_json::Value {
    let mut call = json!({ "id": id, "direction": "inbound", "status": "answered",
                           "started_at": 1_646_389_739, "raw_digits": "+44 330 818 6690" });
    if let Some(user) = user {
        call["user"] = user;
    }
    call
}

#[tokio::test]
async fn availability_poll_reads_every_page_and_yields_to_newer_webhooks() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/users/availabilities"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "users",
            json!([{ "id": 3, "availability": "do_not_disturb" }]),
            None,
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/users/availabilities"))
        .and(query_param("per_page", "50"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "users",
            json!([
                { "id": 731416, "availability": "available" },
                { "id": 2, "availability": "in_call" },
            ]),
            Some(format!(
                "{}/v1/users/availabilities?page=2&per_page=50",
                server.uri()
            )),
        )))
        .mount(&server)
        .await;
    let directory = Arc::new(Directory::from_entries(
        [("alice@example.com".to_owned(), 731_416)],
        [],
        [],
    ));
    let book = PresenceBook::new(directory);
    // A webhook from before the poll...
    let before = Utc::now().timestamp() - 60;
    book.apply(&envelope("user.closed", before, &alice()));
    assert_eq!(book.refresh(&client(&server)).await.unwrap(), 3);
    assert_eq!(received(&server).await.len(), 2);
    // ...is overridden by it; the poll's answers are all recorded.
    let by_email = UserRef::Email("ALICE@example.com".to_owned());
    assert_eq!(book.presence(&by_email), Presence::Available);
    assert_eq!(book.presence_of(2), Presence::Unavailable);
    assert_eq!(book.presence_of(3), Presence::Unavailable);
    // A webhook older than the poll, delivered late, changes nothing.
    let late = book.apply(&envelope("user.closed", before + 1, &alice()));
    assert_eq!(late, PresenceUpdate::Stale { user: 731_416 });
    assert_eq!(book.presence(&by_email), Presence::Available);
    // A newer one does.
    let now = Utc::now().timestamp() + 1;
    book.apply(&envelope("user.closed.v2", now, &alice()));
    assert_eq!(book.presence(&by_email), Presence::Unavailable);
}

#[tokio::test]
async fn out_of_order_call_and_wrap_up_webhooks_settle_on_the_truth() {
    let directory = Arc::new(Directory::from_entries(
        [("alice@example.com".to_owned(), 731_416)],
        [],
        [],
    ));
    let book = PresenceBook::new(directory);
    let alice_ref = UserRef::Id(731_416);
    // Delivered in this order; the timestamps tell the real one:
    // opened 100, answered 110, hungup 125, wut_start 126, wut_end 200,
    // ended 155 (a late call.ended must not end the wrap-up).
    book.apply(&envelope("user.opened", 100, &alice()));
    book.apply(&envelope("user.wut_start", 126, &alice()));
    book.apply(&envelope("call.answered", 110, &call(1, Some(alice()))));
    assert_eq!(book.presence(&alice_ref), Presence::Unavailable);
    book.apply(&envelope("call.hungup", 125, &call(1, Some(alice()))));
    book.apply(&envelope("call.ended", 155, &call(1, Some(alice()))));
    assert_eq!(
        book.presence(&alice_ref),
        Presence::Unavailable,
        "still wrapping up"
    );
    book.apply(&envelope("user.wut_end", 200, &alice()));
    assert_eq!(book.presence(&alice_ref), Presence::Available);
    // A duplicate of the old answer, redelivered, does not make her busy.
    book.apply(&envelope("call.answered", 110, &call(1, Some(alice()))));
    assert_eq!(book.presence(&alice_ref), Presence::Available);
    // Disconnected wins over a later hang-up: free of the call, not online.
    book.apply(&envelope("call.answered", 300, &call(2, Some(alice()))));
    book.apply(&envelope("user.disconnected", 310, &alice()));
    book.apply(&envelope("call.hungup", 320, &call(2, Some(alice()))));
    assert_eq!(book.presence(&alice_ref), Presence::Unavailable);
    book.apply(&envelope("user.connected", 330, &alice()));
    assert_eq!(book.presence(&alice_ref), Presence::Available);
}

#[tokio::test]
async fn user_created_webhook_triggers_a_directory_refresh() {
    let server = MockServer::start().await;
    // The first load knows alice; the refresh also knows carol.
    Mock::given(method("GET"))
        .and(path("/v1/users"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "users",
            json!([alice()]),
            None,
        )))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    mount_users(
        &server,
        json!([alice(), { "id": 99, "email": "carol@example.com" }, { "id": 100, "email": "dave@example.com" }]),
    )
    .await;
    mount_empty(&server, "teams").await;
    mount_empty(&server, "tags").await;
    let directory = Arc::new(Directory::new(client(&server)));
    directory.refresh().await.unwrap();
    assert_eq!(directory.status().users, 1);
    let refresher = directory.spawn_refresher(Duration::from_secs(3600), Duration::from_millis(50));

    let created = envelope(
        "user.created",
        1_646_393_185,
        &json!({ "id": 99, "email": "carol@example.com" }),
    );
    assert!(directory.apply(&created));
    // Known at once from the webhook itself...
    assert_eq!(directory.user_id("carol@example.com"), Some(99));
    // ...and the refresh it asked for brings in what the webhook did not say.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while directory.user_id("dave@example.com").is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no refresh after user.created"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    refresher.abort();
    let status = directory.status();
    assert!(status.loaded && status.last_error.is_none());
    assert_eq!(status.users, 3);
    let user_lists = received(&server)
        .await
        .iter()
        .filter(|request| request.url.path() == "/v1/users")
        .count();
    assert_eq!(user_lists, 2, "one load and one refresh");
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_previous_directory() {
    let server = MockServer::start().await;
    mount_users(&server, json!([alice()])).await;
    mount_empty(&server, "teams").await;
    Mock::given(method("GET"))
        .and(path("/v1/tags"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page("tags", json!([]), None)))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/tags"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({ "message": "Forbidden" })))
        .mount(&server)
        .await;
    let directory = Directory::new(client(&server));
    directory.refresh().await.unwrap();
    let loaded_at = directory.status().loaded_at;
    let err = directory.refresh().await.unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
    let status = directory.status();
    assert!(status.loaded);
    assert_eq!(status.users, 1);
    assert_eq!(status.loaded_at, loaded_at);
    assert!(status.last_error.unwrap().contains("403"));
    assert_eq!(directory.user_id("alice@example.com"), Some(731_416));
}

#[tokio::test]
async fn webhook_presence_decides_the_rule_and_the_dispatcher_sends_one_transfer() {
    let server = MockServer::start().await;
    mount_users(&server, json!([alice()])).await;
    Mock::given(method("GET"))
        .and(path("/v1/teams"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "teams",
            json!([{ "id": 678, "name": "Sales" }]),
            None,
        )))
        .mount(&server)
        .await;
    mount_empty(&server, "tags").await;
    Mock::given(method("POST"))
        .and(wiremock::matchers::path_regex(r"^/v1/calls/\d+/transfers$"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let rules = r#"
agent alice = "alice@example.com"
team sales = "Sales"

rule "alice when she is free"
when alice is available
transfer to alice

rule "everyone else"
when always
transfer to team sales
"#;
    let options = CheckOptions::new(Utc::now().date_naive());
    let compiled = lang::compile(Sources::single("main.rules", rules), &options);
    let Some(rule_set) = compiled.rule_set else {
        panic!("rules do not compile: {:?}", compiled.diagnostics);
    };

    let aircall = client(&server);
    let directory = Arc::new(Directory::new(aircall.clone()));
    directory.refresh().await.unwrap();
    let presence = Arc::new(PresenceBook::new(Arc::clone(&directory)));
    let records = Records::new();
    let dispatcher = Dispatcher::spawn(
        DispatchConfig::default(),
        Some(aircall),
        Arc::clone(&directory),
        Arc::clone(&presence),
        records.clone(),
    );
    let loading = received(&server).await.len();

    let now = Utc::now().timestamp();
    let route = |call_id: i64| {
        let created = envelope(
            "call.created",
            now,
            &json!({ "id": call_id, "direction": "inbound", "status": "initial", "started_at": now,
                     "raw_digits": "+44 330 818 6690",
                     "number": { "id": 397375, "digits": "+43 720 880079", "country": "AT",
                                 "time_zone": "Europe/Vienna" } }),
        );
        let data = created.call_data().unwrap();
        let call = created.to_call(&data, Utc::now());
        let context = Context {
            contact: None,
            last_agent: None,
            availability: &*presence,
        };
        let outcome = rule_set.evaluate(&call, &context);
        dispatcher
            .try_submit(Job {
                call_id,
                call_started_at: Utc::now(),
                decision: outcome.decision,
                revision: rule_set.revision().to_owned(),
            })
            .unwrap();
    };

    // Nothing known about alice: the catch-all sends the call to Sales.
    route(1);
    presence.apply(&envelope("user.opened", now, &alice()));
    route(2);
    presence.apply(&envelope(
        "call.answered",
        now + 1,
        &call(77, Some(alice())),
    ));
    route(3);

    let records = records.wait_for(3).await;
    let mut sent: Vec<(i64, String)> = records
        .iter()
        .map(|record| {
            assert_eq!(record.status, DispatchOutcome::Sent, "{record:?}");
            (record.call_id, record.target.clone().unwrap())
        })
        .collect();
    sent.sort();
    assert_eq!(
        sent,
        [
            (1, "team 678".to_owned()),
            (2, "user 731416 (alice@example.com)".to_owned()),
            (3, "team 678".to_owned()),
        ]
    );
    dispatcher.shutdown().await;
    assert_eq!(
        received(&server).await.len() - loading,
        3,
        "one request per routed call"
    );
}
