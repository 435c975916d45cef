//! The dispatcher against a fake Aircall (wiremock on 127.0.0.1): one
//! request per routed call, fallbacks, dry-run, and every fault the
//! transfer endpoint can show (429, 5xx, timeout, refused connection),
//! with the rule that a transfer is never resent once it may have worked.

#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

use crate::support;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use support::aircall::{
    agent, client, config, decision, number, page, received, refused_url, team, transfer, Records,
    BASIC,
};
use switchboard::aircall::client::{AircallClient, ClientConfig};
use switchboard::aircall::directory::Directory;
use switchboard::aircall::dispatch::{
    ActionKind, ActionRecord, Clearance, DispatchConfig, DispatchOutcome, Dispatcher, Job,
    OutcomeSink, SendingFuture,
};
use switchboard::aircall::presence::PresenceBook;
use switchboard::aircall::rate_limit::RateLimitConfig;
use switchboard::aircall::webhook::Envelope;
use switchboard::lang::outcome::UserTarget;
use switchboard::lang::{Action, Decision, Target};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Mounts a directory of two pages of users, one team and one tag.
async fn mount_directory(server: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/v1/users"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "users",
            json!([{ "id": 43, "email": "bob@example.com" }]),
            None,
        )))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/users"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "users",
            json!([{ "id": 42, "email": "Alice@Example.com" }]),
            Some(format!("{}/v1/users?page=2&per_page=50", server.uri())),
        )))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/teams"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "teams",
            json!([{ "id": 678, "name": "Sales" }]),
            None,
        )))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/tags"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "tags",
            json!([{ "id": 31, "name": "VIP" }]),
            None,
        )))
        .mount(server)
        .await;
}

async fn transfers_answer(server: &MockServer, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path_regex_transfers())
        .respond_with(response)
        .mount(server)
        .await;
}

fn path_regex_transfers() -> wiremock::matchers::PathRegexMatcher {
    wiremock::matchers::path_regex(r"^/v1/calls/\d+/transfers$")
}

struct Setup {
    dispatcher: Dispatcher,
    records: Arc<Records>,
    directory: Arc<Directory>,
    presence: Arc<PresenceBook>,
}

/// A live dispatcher whose directory has been loaded from `server`.
async fn live(server: &MockServer, client: AircallClient, config: DispatchConfig) -> Setup {
    mount_directory(server).await;
    let directory = Arc::new(Directory::new(client.clone()));
    directory.refresh().await.unwrap();
    let presence = Arc::new(PresenceBook::new(Arc::clone(&directory)));
    let records = Records::new();
    let dispatcher = Dispatcher::spawn(
        config,
        Some(client),
        Arc::clone(&directory),
        Arc::clone(&presence),
        records.clone(),
    );
    Setup {
        dispatcher,
        records,
        directory,
        presence,
    }
}

fn job(call_id: i64, decision: Decision) -> Job {
    Job {
        call_id,
        call_started_at: Utc::now(),
        decision,
        revision: "rev1".to_owned(),
    }
}

/// Requests received after the directory load (3 lists, users on 2 pages).
async fn posts(server: &MockServer) -> Vec<wiremock::Request> {
    received(server)
        .await
        .into_iter()
        .filter(|request| request.method.as_str() == "POST")
        .collect()
}

#[tokio::test]
async fn a_routed_call_costs_exactly_one_request_in_steady_state() {
    let server = MockServer::start().await;
    transfers_answer(&server, ResponseTemplate::new(204)).await;
    let setup = live(&server, client(&server), DispatchConfig::default()).await;
    let loading = received(&server).await.len();
    assert_eq!(loading, 4, "users (2 pages), teams, tags");

    let decisions = [
        transfer(agent("alice@example.com"), vec![]),
        transfer(agent("BOB@example.com"), vec![]),
        transfer(team("Sales"), vec![]),
        transfer(number("+18001231234"), vec![]),
        transfer(Target::User(UserTarget::Id(7)), vec![]),
    ];
    for (call_id, decision) in (1..).zip(decisions) {
        setup.dispatcher.try_submit(job(call_id, decision)).unwrap();
    }
    let records = setup.records.wait_for(5).await;
    assert!(records
        .iter()
        .all(|record| record.status == DispatchOutcome::Sent && record.attempts == 1));
    let requests = received(&server).await;
    assert_eq!(
        requests.len() - loading,
        5,
        "one transfer per call, nothing else"
    );

    let mut bodies: Vec<(String, serde_json::Value)> = requests[loading..]
        .iter()
        .map(|request| (request.url.path().to_owned(), request.body_json().unwrap()))
        .collect();
    bodies.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        bodies,
        [
            ("/v1/calls/1/transfers".to_owned(), json!({ "user_id": 42 })),
            ("/v1/calls/2/transfers".to_owned(), json!({ "user_id": 43 })),
            (
                "/v1/calls/3/transfers".to_owned(),
                json!({ "team_id": 678 })
            ),
            (
                "/v1/calls/4/transfers".to_owned(),
                json!({ "number": "+18001231234" })
            ),
            ("/v1/calls/5/transfers".to_owned(), json!({ "user_id": 7 })),
        ]
    );
    for request in &requests[loading..] {
        assert_eq!(request.headers.get("authorization").unwrap(), BASIC);
    }
    let alice = records.iter().find(|record| record.call_id == 1).unwrap();
    assert_eq!(alice.target.as_deref(), Some("user 42 (Alice@Example.com)"));
    assert_eq!(alice.revision, "rev1");
    assert_eq!(
        alice.rule.as_ref().unwrap().name.as_deref(),
        Some("test rule")
    );
    setup.dispatcher.shutdown().await;
}

#[tokio::test]
async fn unresolved_targets_fall_through_to_fallbacks_with_reasons() {
    let server = MockServer::start().await;
    transfers_answer(&server, ResponseTemplate::new(204)).await;
    let setup = live(&server, client(&server), DispatchConfig::default()).await;
    let decision = transfer(
        agent("nobody@example.com"),
        vec![team("Nowhere"), team("Sales"), number("+18001231234")],
    );
    setup.dispatcher.try_submit(job(10, decision)).unwrap();
    let record = setup.records.wait_for(1).await.remove(0);
    assert_eq!(record.status, DispatchOutcome::Sent);
    assert_eq!(record.target.as_deref(), Some("team 678"));
    let reasons: Vec<(&str, &str)> = record
        .skipped
        .iter()
        .map(|skipped| (skipped.target.as_str(), skipped.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                "agent nobody@example.com",
                "no Aircall user has this e-mail"
            ),
            ("team \"Nowhere\"", "no Aircall team has this name"),
        ]
    );
    let posts = posts(&server).await;
    assert_eq!(posts.len(), 1);
    assert_eq!(
        posts[0].body_json::<serde_json::Value>().unwrap(),
        json!({ "team_id": 678 })
    );
    setup.dispatcher.shutdown().await;
}

#[tokio::test]
async fn nothing_resolvable_keeps_the_call_and_sends_nothing() {
    let server = MockServer::start().await;
    transfers_answer(&server, ResponseTemplate::new(204)).await;
    let setup = live(&server, client(&server), DispatchConfig::default()).await;
    let decision = transfer(agent("nobody@example.com"), vec![team("Nowhere")]);
    setup.dispatcher.try_submit(job(11, decision)).unwrap();
    let record = setup.records.wait_for(1).await.remove(0);
    let DispatchOutcome::Kept { reason } = &record.status else {
        panic!("expected kept, got {record:?}");
    };
    assert!(
        reason.contains("nobody@example.com: no Aircall user"),
        "{reason}"
    );
    assert!(reason.contains("Nowhere"), "{reason}");
    assert_eq!(record.attempts, 0);
    assert!(posts(&server).await.is_empty());
    setup.dispatcher.shutdown().await;
}

#[tokio::test]
async fn a_fallback_known_to_be_unavailable_is_skipped() {
    let server = MockServer::start().await;
    transfers_answer(&server, ResponseTemplate::new(204)).await;
    let setup = live(&server, client(&server), DispatchConfig::default()).await;
    let closed = Envelope::from_slice(
        br#"{"resource":"user","event":"user.closed","timestamp":1700000000,"token":"t",
            "data":{"id":42,"email":"alice@example.com","available":false}}"#,
    )
    .unwrap();
    setup.presence.apply(&closed);
    let decision = transfer(
        agent("nobody@example.com"),
        vec![agent("alice@example.com"), agent("bob@example.com")],
    );
    setup.dispatcher.try_submit(job(12, decision)).unwrap();
    let record = setup.records.wait_for(1).await.remove(0);
    assert_eq!(record.status, DispatchOutcome::Sent);
    assert_eq!(record.target.as_deref(), Some("user 43 (bob@example.com)"));
    assert_eq!(record.skipped[1].reason, "unavailable");
    let posts = posts(&server).await;
    assert_eq!(
        posts[0].body_json::<serde_json::Value>().unwrap(),
        json!({ "user_id": 43 })
    );
    setup.dispatcher.shutdown().await;
}

#[tokio::test]
async fn too_many_requests_waits_for_the_reset_then_sends_again() {
    let server = MockServer::start().await;
    let reset = Utc::now().timestamp() + 2;
    Mock::given(method("POST"))
        .and(path_regex_transfers())
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("X-AircallApi-Limit", "60")
                .insert_header("X-AircallApi-Remaining", "0")
                .insert_header("X-AircallApi-Reset", reset.to_string().as_str())
                .set_body_json(json!({ "error": "Too Many Requests" })),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    transfers_answer(&server, ResponseTemplate::new(204)).await;
    let setup = live(&server, client(&server), DispatchConfig::default()).await;
    setup
        .dispatcher
        .try_submit(job(20, transfer(number("+18001231234"), vec![])))
        .unwrap();
    let record = setup.records.wait_for(1).await.remove(0);
    assert_eq!(record.status, DispatchOutcome::Sent);
    assert_eq!(record.attempts, 2);
    let posts = posts(&server).await;
    assert_eq!(posts.len(), 2);
    // The second attempt was not sent before the counter's reset (whole
    // seconds, so at least the part of a second left plus one).
    assert!(
        Utc::now().timestamp() >= reset,
        "resent before the reset (latency {:?})",
        record.latency
    );
    assert!(
        record.latency >= Duration::from_millis(900),
        "{:?}",
        record.latency
    );
    setup.dispatcher.shutdown().await;
}

#[tokio::test]
async fn a_server_error_is_unknown_and_never_resent() {
    let server = MockServer::start().await;
    transfers_answer(
        &server,
        ResponseTemplate::new(500).set_body_json(json!({ "error": "Internal Server Error" })),
    )
    .await;
    let setup = live(&server, client(&server), DispatchConfig::default()).await;
    setup
        .dispatcher
        .try_submit(job(
            30,
            transfer(agent("alice@example.com"), vec![team("Sales")]),
        ))
        .unwrap();
    let record = setup.records.wait_for(1).await.remove(0);
    let DispatchOutcome::Unknown { reason } = &record.status else {
        panic!("expected unknown, got {record:?}");
    };
    assert!(reason.contains("500"), "{reason}");
    assert_eq!(record.attempts, 1);
    // Not resent, and the fallback is not tried either: the first transfer
    // may have happened.
    setup.dispatcher.clone().shutdown().await;
    assert_eq!(posts(&server).await.len(), 1);
}

#[tokio::test]
async fn a_timeout_is_unknown_and_never_resent() {
    let server = MockServer::start().await;
    transfers_answer(
        &server,
        ResponseTemplate::new(204).set_delay(Duration::from_secs(2)),
    )
    .await;
    let client = AircallClient::new(ClientConfig {
        request_timeout: Duration::from_millis(300),
        ..config(&server.uri())
    })
    .unwrap();
    let setup = live(&server, client, DispatchConfig::default()).await;
    setup
        .dispatcher
        .try_submit(job(31, transfer(team("Sales"), vec![])))
        .unwrap();
    let record = setup.records.wait_for(1).await.remove(0);
    assert!(
        matches!(&record.status, DispatchOutcome::Unknown { reason } if reason.contains("did not answer")),
        "{record:?}"
    );
    assert_eq!(record.attempts, 1);
    setup.dispatcher.clone().shutdown().await;
    assert_eq!(posts(&server).await.len(), 1);
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_failed() {
    let client = AircallClient::new(config(&refused_url())).unwrap();
    let directory = Arc::new(Directory::new(client.clone()));
    let presence = Arc::new(PresenceBook::new(Arc::clone(&directory)));
    let records = Records::new();
    let dispatcher = Dispatcher::spawn(
        DispatchConfig {
            retry_backoff: Duration::from_millis(20),
            ..DispatchConfig::default()
        },
        Some(client),
        directory,
        presence,
        records.clone(),
    );
    dispatcher
        .try_submit(job(40, transfer(number("+18001231234"), vec![])))
        .unwrap();
    let record = records.wait_for(1).await.remove(0);
    let DispatchOutcome::Failed { reason } = &record.status else {
        panic!("expected failed, got {record:?}");
    };
    assert!(reason.contains("connect"), "{reason}");
    assert_eq!(record.attempts, 3);
    dispatcher.shutdown().await;
}

#[tokio::test]
async fn a_rejected_transfer_is_failed_not_unknown() {
    let server = MockServer::start().await;
    transfers_answer(
        &server,
        ResponseTemplate::new(400).set_body_json(json!({ "error": "Call already ended" })),
    )
    .await;
    let setup = live(&server, client(&server), DispatchConfig::default()).await;
    setup
        .dispatcher
        .try_submit(job(41, transfer(number("+18001231234"), vec![])))
        .unwrap();
    let record = setup.records.wait_for(1).await.remove(0);
    assert!(
        matches!(&record.status, DispatchOutcome::Failed { reason } if reason.contains("Call already ended")),
        "{record:?}"
    );
    assert_eq!(record.attempts, 1);
    setup.dispatcher.shutdown().await;
}

#[tokio::test]
async fn a_call_older_than_the_deadline_is_expired_without_a_request() {
    let server = MockServer::start().await;
    transfers_answer(&server, ResponseTemplate::new(204)).await;
    let setup = live(&server, client(&server), DispatchConfig::default()).await;
    let old = Job {
        call_started_at: Utc::now() - chrono::Duration::seconds(31),
        ..job(50, transfer(number("+18001231234"), vec![]))
    };
    setup.dispatcher.try_submit(old).unwrap();
    let record = setup.records.wait_for(1).await.remove(0);
    assert_eq!(record.status, DispatchOutcome::Expired);
    assert_eq!(record.attempts, 0);
    setup.dispatcher.shutdown().await;
    assert!(posts(&server).await.is_empty());
}

#[tokio::test]
async fn a_transfer_the_budget_cannot_fit_before_the_deadline_expires_unsent() {
    let server = MockServer::start().await;
    transfers_answer(&server, ResponseTemplate::new(204)).await;
    // One request a minute, and the directory load has spent it.
    let client = AircallClient::new(ClientConfig {
        rate_limit: RateLimitConfig {
            per_minute: 4,
            reserve: 0,
            ..RateLimitConfig::default()
        },
        ..config(&server.uri())
    })
    .unwrap();
    let setup = live(
        &server,
        client,
        DispatchConfig {
            deadline: Duration::from_secs(5),
            ..DispatchConfig::default()
        },
    )
    .await;
    setup
        .dispatcher
        .try_submit(job(51, transfer(number("+18001231234"), vec![])))
        .unwrap();
    let record = setup.records.wait_for(1).await.remove(0);
    assert_eq!(record.status, DispatchOutcome::Expired);
    assert_eq!(record.attempts, 0);
    assert!(
        record.latency < Duration::from_secs(1),
        "gave up at once: {:?}",
        record.latency
    );
    setup.dispatcher.shutdown().await;
    assert!(posts(&server).await.is_empty());
}

#[tokio::test]
async fn a_second_job_for_the_same_call_is_a_duplicate() {
    let server = MockServer::start().await;
    transfers_answer(&server, ResponseTemplate::new(204)).await;
    let setup = live(&server, client(&server), DispatchConfig::default()).await;
    let decision = transfer(agent("alice@example.com"), vec![]);
    setup
        .dispatcher
        .try_submit(job(60, decision.clone()))
        .unwrap();
    setup.dispatcher.try_submit(job(60, decision)).unwrap();
    let records = setup.records.wait_for(2).await;
    let mut statuses: Vec<&str> = records.iter().map(|record| record.status.label()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, ["duplicate", "sent"]);
    setup.dispatcher.shutdown().await;
    assert_eq!(posts(&server).await.len(), 1);
}

/// A sink that clears the transfers of some calls only, as the store does
/// for the calls whose claims this instance holds.
struct Clearing {
    records: Arc<Records>,
    /// Call 90's claim went to another replica; call 91's transfer could
    /// not be noted as being sent; the others are cleared.
    clearance: fn(i64) -> Clearance,
}

impl OutcomeSink for Clearing {
    fn record(&self, record: ActionRecord) {
        self.records.record(record);
    }

    fn sending(&self, call_id: i64) -> SendingFuture<'_> {
        Box::pin(std::future::ready((self.clearance)(call_id)))
    }
}

/// A transfer goes out only when the sink clears it: a call whose claim
/// another replica took over is left to that one (this one's transfer,
/// and the rest of the decision, are duplicates), and a transfer that
/// could not be noted as being sent is not sent.
#[tokio::test]
async fn a_transfer_the_sink_does_not_clear_is_not_sent() {
    let server = MockServer::start().await;
    transfers_answer(&server, ResponseTemplate::new(204)).await;
    mount_directory(&server).await;
    let directory = Arc::new(Directory::new(client(&server)));
    directory.refresh().await.unwrap();
    let records = Records::new();
    let dispatcher = Dispatcher::spawn(
        DispatchConfig::default(),
        Some(client(&server)),
        Arc::clone(&directory),
        Arc::new(PresenceBook::new(Arc::clone(&directory))),
        Arc::new(Clearing {
            records: Arc::clone(&records),
            clearance: |call_id| match call_id {
                90 => Clearance::ClaimedElsewhere,
                91 => Clearance::NotNoted("the store is unreachable".to_owned()),
                _ => Clearance::Cleared,
            },
        }),
    );
    let transfer_and_comment = decision(vec![
        Action::Transfer {
            to: number("+18001231234"),
            fallbacks: vec![],
            skipped: vec![],
        },
        Action::Comment {
            text: "routed".to_owned(),
        },
    ]);
    dispatcher
        .try_submit(job(90, transfer_and_comment.clone()))
        .unwrap();
    dispatcher
        .try_submit(job(91, transfer(number("+18001231234"), vec![])))
        .unwrap();
    dispatcher
        .try_submit(job(92, transfer(number("+18001231234"), vec![])))
        .unwrap();
    let records = records.wait_for(4).await;
    let status = |call_id: i64, kind: ActionKind| {
        records
            .iter()
            .find(|record| record.call_id == call_id && record.action == kind)
            .map(|record| record.status.clone())
            .unwrap()
    };
    assert_eq!(status(90, ActionKind::Transfer), DispatchOutcome::Duplicate);
    assert_eq!(status(90, ActionKind::Comment), DispatchOutcome::Duplicate);
    assert!(matches!(
        status(91, ActionKind::Transfer),
        DispatchOutcome::Failed { reason } if reason.contains("could not be noted as being sent")
    ));
    assert_eq!(status(92, ActionKind::Transfer), DispatchOutcome::Sent);
    dispatcher.shutdown().await;
    let sent: Vec<String> = posts(&server)
        .await
        .iter()
        .map(|request| request.url.path().to_owned())
        .collect();
    assert_eq!(sent, ["/v1/calls/92/transfers"]);
}

#[tokio::test]
async fn dry_run_records_what_it_would_do_and_sends_nothing() {
    let server = MockServer::start().await;
    mount_directory(&server).await;
    // A directory loaded from the fake, so targets resolve; but no client
    // for the dispatcher: dry-run.
    let directory = Arc::new(Directory::new(client(&server)));
    directory.refresh().await.unwrap();
    let loading = received(&server).await.len();
    let presence = Arc::new(PresenceBook::new(Arc::clone(&directory)));
    let records = Records::new();
    let dispatcher = Dispatcher::spawn(
        DispatchConfig::default(),
        None,
        Arc::clone(&directory),
        presence,
        records.clone(),
    );
    assert!(dispatcher.is_dry_run());
    let decision = decision(vec![
        Action::Transfer {
            to: agent("alice@example.com"),
            fallbacks: vec![],
            skipped: vec![],
        },
        Action::Tag {
            tag: "VIP".to_owned(),
        },
        Action::Comment {
            text: "routed by switchboard".to_owned(),
        },
    ]);
    dispatcher.try_submit(job(70, decision)).unwrap();
    let records = records.wait_for(3).await;
    assert!(records
        .iter()
        .all(|record| record.status == DispatchOutcome::DryRun));
    let transfer = records
        .iter()
        .find(|record| record.action == ActionKind::Transfer)
        .unwrap();
    assert_eq!(
        transfer.summary(),
        "dry-run: would transfer to user 42 (Alice@Example.com)"
    );
    dispatcher.shutdown().await;
    assert_eq!(
        received(&server).await.len(),
        loading,
        "nothing sent in dry-run"
    );
}

#[tokio::test]
async fn dry_run_without_a_directory_reports_the_target_as_written() {
    let records = Records::new();
    let directory = Arc::new(Directory::offline());
    let presence = Arc::new(PresenceBook::new(Arc::clone(&directory)));
    let dispatcher = Dispatcher::spawn(
        DispatchConfig::default(),
        None,
        directory,
        presence,
        records.clone(),
    );
    dispatcher
        .try_submit(job(
            71,
            transfer(agent("alice@example.com"), vec![team("Sales")]),
        ))
        .unwrap();
    let record = records.wait_for(1).await.remove(0);
    assert_eq!(
        record.summary(),
        "dry-run: would transfer to agent alice@example.com"
    );
    dispatcher.shutdown().await;
}

#[tokio::test]
async fn tags_and_comments_follow_the_transfer() {
    let server = MockServer::start().await;
    transfers_answer(&server, ResponseTemplate::new(204)).await;
    Mock::given(method("POST"))
        .and(path("/v1/calls/80/tags"))
        .and(header("authorization", BASIC))
        .and(body_json(json!({ "tags": [31] })))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/calls/80/comments"))
        .and(body_json(json!({ "content": "VIP caller" })))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    let setup = live(&server, client(&server), DispatchConfig::default()).await;
    let decision = decision(vec![
        Action::Transfer {
            to: team("Sales"),
            fallbacks: vec![],
            skipped: vec![],
        },
        Action::Tag {
            tag: "vip".to_owned(),
        },
        Action::Tag {
            tag: "Unheard of".to_owned(),
        },
        Action::Comment {
            text: "VIP caller".to_owned(),
        },
    ]);
    setup.dispatcher.try_submit(job(80, decision)).unwrap();
    let records = setup.records.wait_for(4).await;
    let status = |kind: ActionKind, target: &str| {
        records
            .iter()
            .find(|record| record.action == kind && record.target.as_deref() == Some(target))
            .map(|record| record.status.clone())
            .unwrap()
    };
    assert_eq!(
        status(ActionKind::Transfer, "team 678"),
        DispatchOutcome::Sent
    );
    assert_eq!(status(ActionKind::Tag, "\"vip\""), DispatchOutcome::Sent);
    assert!(matches!(
        status(ActionKind::Tag, "\"Unheard of\""),
        DispatchOutcome::Skipped { reason } if reason.contains("no Aircall tag")
    ));
    assert_eq!(
        status(ActionKind::Comment, "\"VIP caller\""),
        DispatchOutcome::Sent
    );
    setup.dispatcher.shutdown().await;
    assert_eq!(posts(&server).await.len(), 3);
}

#[tokio::test]
async fn keep_is_recorded_at_once_without_the_queue() {
    let records = Records::new();
    let directory = Arc::new(Directory::offline());
    let presence = Arc::new(PresenceBook::new(Arc::clone(&directory)));
    let dispatcher = Dispatcher::spawn(
        DispatchConfig::default(),
        None,
        directory,
        presence,
        records.clone(),
    );
    let keep = decision(vec![Action::Keep { reason: None }]);
    dispatcher.try_submit(job(90, keep)).unwrap();
    let records = records.all();
    assert_eq!(records.len(), 1, "recorded before try_submit returned");
    assert_eq!(records[0].action, ActionKind::Keep);
    assert!(matches!(records[0].status, DispatchOutcome::Kept { .. }));
    assert_eq!(dispatcher.queue_depth(), 0);
    dispatcher.shutdown().await;
}

#[tokio::test]
async fn a_full_queue_is_refused_and_a_later_retry_is_not_a_duplicate() {
    let server = MockServer::start().await;
    transfers_answer(
        &server,
        ResponseTemplate::new(204).set_delay(Duration::from_millis(500)),
    )
    .await;
    let setup = live(
        &server,
        client(&server),
        DispatchConfig {
            capacity: 1,
            workers: 1,
            ..DispatchConfig::default()
        },
    )
    .await;
    let decision = transfer(number("+18001231234"), vec![]);
    setup
        .dispatcher
        .try_submit(job(100, decision.clone()))
        .unwrap();
    // Wait until the only worker is busy with the first job.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while posts(&server).await.is_empty() {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    setup
        .dispatcher
        .try_submit(job(101, decision.clone()))
        .unwrap();
    assert_eq!(setup.dispatcher.queue_depth(), 1);
    let full = setup
        .dispatcher
        .try_submit(job(102, decision.clone()))
        .unwrap_err();
    assert!(!full.shutting_down);
    // Once there is room, the same call is accepted (it never ran).
    setup.records.wait_for(1).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while setup
        .dispatcher
        .try_submit(job(102, decision.clone()))
        .is_err()
    {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let records = setup.records.wait_for(3).await;
    assert!(
        records
            .iter()
            .all(|record| record.status == DispatchOutcome::Sent),
        "{records:?}"
    );
    setup.dispatcher.shutdown().await;
}

#[tokio::test]
async fn shutdown_finishes_queued_jobs_then_refuses_new_ones() {
    let server = MockServer::start().await;
    transfers_answer(
        &server,
        ResponseTemplate::new(204).set_delay(Duration::from_millis(50)),
    )
    .await;
    let setup = live(
        &server,
        client(&server),
        DispatchConfig {
            workers: 1,
            ..DispatchConfig::default()
        },
    )
    .await;
    for call_id in 200..205 {
        setup
            .dispatcher
            .try_submit(job(call_id, transfer(number("+18001231234"), vec![])))
            .unwrap();
    }
    let handle = setup.dispatcher.clone();
    setup.dispatcher.shutdown().await;
    let records = setup.records.all();
    assert_eq!(
        records.len(),
        5,
        "every queued job finished before shutdown returned"
    );
    assert!(records
        .iter()
        .all(|record| record.status == DispatchOutcome::Sent));
    let refused = handle
        .try_submit(job(300, transfer(number("+18001231234"), vec![])))
        .unwrap_err();
    assert!(refused.shutting_down);
    assert_eq!(setup.directory.status().users, 2);
}
