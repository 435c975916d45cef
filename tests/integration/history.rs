//! Call history for `last_agent`, learnt from realistic webhook sequences
//! (answered, transferred, ended; delivered twice and out of order), on
//! SQLite and PostgreSQL; and `transfer to last_agent` end to end through
//! the real server and a fake Aircall.

#![expect(clippy::unwrap_used, reason = "tests")]

use crate::support;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};
use support::store::{sqlite_store, test_config, TestDb};
use switchboard::aircall::webhook::Envelope;
use switchboard::lang::Agent;
use switchboard::store::{history, Disposition, Store, WebhookRecord};

const T0: i64 = 1_770_000_000;

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(seconds, 0).unwrap()
}

/// A call event as Aircall sends it.
fn call_event(
    event: &str,
    id: i64,
    caller: &str,
    agent: Option<(u64, &str)>,
    answered_at: Option<i64>,
    timestamp: i64,
) -> Value {
    let mut data = json!({
        "id": id,
        "direction": "inbound",
        "status": if event == "call.ended" { "done" } else { "answered" },
        "started_at": answered_at.map_or(timestamp, |a| a - 10),
        "answered_at": answered_at,
        "ended_at": if event == "call.ended" { json!(timestamp - 30) } else { Value::Null },
        "raw_digits": caller,
        "number": {"id": 397375, "digits": "+43 720 880079", "country": "AT", "time_zone": "Europe/Vienna"},
    });
    if let Some((id, email)) = agent {
        data["user"] = json!({"id": id, "email": email, "name": "Agent", "available": false});
    }
    json!({"resource": "call", "event": event, "timestamp": timestamp, "token": "t", "data": data})
}

/// Feeds one webhook to the store the way the server does.
async fn deliver(store: &Store, body: &Value) {
    let envelope = Envelope::from_slice(body.to_string().as_bytes()).unwrap();
    let data = envelope.call_data().unwrap();
    let mut record = WebhookRecord::new(Utc::now(), &envelope.event, Disposition::Applied);
    record.call_id = Some(data.id);
    record.history = history::entry_from(&envelope, &data, Utc::now());
    store.record(record).await.unwrap();
}

async fn last(store: &Store, caller: &str, now: i64) -> Option<Agent> {
    store.last_agent(caller, at(now)).await.unwrap()
}

fn agent(id: u64, email: &str) -> Option<Agent> {
    Some(Agent {
        id: Some(id),
        email: Some(email.to_owned()),
    })
}

async fn sequences_build_the_right_history(store: Store) {
    let jeanne = "+33 1 76 36 06 95";
    let e164 = "+33176360695";
    // Call 1 (day 0): answered by Alice, ended ~1 min later.
    deliver(
        &store,
        &call_event(
            "call.answered",
            1,
            jeanne,
            Some((101, "alice@example.com")),
            Some(T0),
            T0,
        ),
    )
    .await;
    assert_eq!(
        last(&store, e164, T0 + 60).await,
        agent(101, "alice@example.com")
    );
    // Call 2 (day 1): answered by Bob. The caller's number is written
    // differently this time; history is kept in E.164.
    deliver(
        &store,
        &call_event(
            "call.answered",
            2,
            "0033176360695",
            Some((102, "bob@example.com")),
            Some(T0 + 86_400),
            T0 + 86_400,
        ),
    )
    .await;
    // Call 1's `call.ended` arrives late (after call 2 was answered): it
    // must not make Alice the last agent again.
    deliver(
        &store,
        &call_event(
            "call.ended",
            1,
            jeanne,
            Some((101, "alice@example.com")),
            Some(T0),
            T0 + 86_500,
        ),
    )
    .await;
    assert_eq!(
        last(&store, e164, T0 + 86_600).await,
        agent(102, "bob@example.com")
    );
    // Duplicate deliveries change nothing.
    for _ in 0..3 {
        deliver(
            &store,
            &call_event(
                "call.answered",
                2,
                jeanne,
                Some((102, "bob@example.com")),
                Some(T0 + 86_400),
                T0 + 86_400,
            ),
        )
        .await;
    }
    assert_eq!(
        last(&store, e164, T0 + 86_600).await,
        agent(102, "bob@example.com")
    );

    // Call 3 (day 2): answered by Bob, transferred to Carol; `call.ended`
    // names Carol, who had the caller last.
    deliver(
        &store,
        &call_event(
            "call.answered",
            3,
            jeanne,
            Some((102, "bob@example.com")),
            Some(T0 + 172_800),
            T0 + 172_800,
        ),
    )
    .await;
    deliver(
        &store,
        &call_event(
            "call.ended",
            3,
            jeanne,
            Some((103, "carol@example.com")),
            Some(T0 + 172_800),
            T0 + 173_000,
        ),
    )
    .await;
    assert_eq!(
        last(&store, e164, T0 + 173_100).await,
        agent(103, "carol@example.com")
    );
    // ...and a late, duplicated `call.answered` of call 3 does not undo it.
    deliver(
        &store,
        &call_event(
            "call.answered",
            3,
            jeanne,
            Some((102, "bob@example.com")),
            Some(T0 + 172_800),
            T0 + 172_800,
        ),
    )
    .await;
    assert_eq!(
        last(&store, e164, T0 + 173_100).await,
        agent(103, "carol@example.com")
    );

    // A missed call (ended, never answered) teaches nothing.
    deliver(
        &store,
        &call_event(
            "call.ended",
            4,
            jeanne,
            Some((104, "dan@example.com")),
            None,
            T0 + 200_000,
        ),
    )
    .await;
    assert_eq!(
        last(&store, e164, T0 + 200_100).await,
        agent(103, "carol@example.com")
    );

    // Another caller has their own history; an unknown caller has none.
    deliver(
        &store,
        &call_event(
            "call.answered",
            5,
            "+44 20 7946 0958",
            Some((101, "alice@example.com")),
            Some(T0 + 1_000),
            T0 + 1_000,
        ),
    )
    .await;
    assert_eq!(
        last(&store, "+442079460958", T0 + 2_000).await,
        agent(101, "alice@example.com")
    );
    assert_eq!(last(&store, "+18005550100", T0 + 2_000).await, None);

    // The window (90 days by default): a call answered 91 days before
    // does not count; one answered 89 days before does.
    assert_eq!(
        last(&store, "+442079460958", T0 + 1_000 + 91 * 86_400).await,
        None
    );
    assert_eq!(
        last(&store, "+442079460958", T0 + 1_000 + 89 * 86_400).await,
        agent(101, "alice@example.com")
    );

    // Many lookups at once share batch queries (the first is read inline,
    // those arriving meanwhile queue behind it): each answer is still the
    // one a lookup of its own gives, window included.
    let questions: Vec<(&str, i64)> = ["+442079460958", "+18005550100", "+33612345678"]
        .into_iter()
        .flat_map(|caller| {
            [
                T0 + 2_000,
                T0 + 1_000 + 89 * 86_400,
                T0 + 1_000 + 91 * 86_400,
            ]
            .map(|now| (caller, now))
        })
        .collect();
    let mut alone = Vec::new();
    for &(caller, now) in &questions {
        alone.push(last(&store, caller, now).await);
    }
    assert!(alone.iter().any(Option::is_some), "{alone:?}");
    let mut together = tokio::task::JoinSet::new();
    for round in 0..20 {
        for (index, &(caller, now)) in questions.iter().enumerate() {
            let store = store.clone();
            together.spawn(async move { (round, index, last(&store, caller, now).await) });
        }
    }
    while let Some(answer) = together.join_next().await {
        let (round, index, agent) = answer.unwrap();
        assert_eq!(agent, alone[index], "round {round}, question {index}");
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_history_from_webhook_sequences() {
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite_store(dir.path(), &test_config("h")).await;
    sequences_build_the_right_history(store).await;
}

/// On SQLite a caller with no history is answered without a read (the
/// store keeps a filter of the callers in `call_history`); one with a
/// history is always read, before and after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_reads_history_only_for_callers_who_may_have_one() {
    let dir = tempfile::tempdir().unwrap();
    let skipped = |store: &Store| store.stats().history_reads_skipped;
    let store = sqlite_store(dir.path(), &test_config("h")).await;
    assert_eq!(last(&store, "+33176360695", T0).await, None);
    assert_eq!(skipped(&store), 1);
    deliver(
        &store,
        &call_event(
            "call.answered",
            1,
            "+33 1 76 36 06 95",
            Some((101, "alice@example.com")),
            Some(T0),
            T0,
        ),
    )
    .await;
    // Known now: read, and found.
    assert_eq!(
        last(&store, "+33176360695", T0 + 60).await,
        agent(101, "alice@example.com")
    );
    assert_eq!(skipped(&store), 1);
    assert_eq!(last(&store, "+442079460958", T0 + 60).await, None);
    assert_eq!(skipped(&store), 2);
    store.close().await;

    // A new process learns the callers from the table.
    let store = sqlite_store(dir.path(), &test_config("h")).await;
    assert_eq!(
        last(&store, "+33176360695", T0 + 120).await,
        agent(101, "alice@example.com")
    );
    assert_eq!(last(&store, "+442079460958", T0 + 120).await, None);
    assert_eq!(skipped(&store), 1);
    store.close().await;
}

#[ignore = "needs SWITCHBOARD_TEST_POSTGRES"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_history_from_webhook_sequences() {
    let db = TestDb::postgres("postgres_history_from_webhook_sequences").await;
    let store = Store::open(&db.location(), &test_config("h"))
        .await
        .unwrap();
    sequences_build_the_right_history(store).await;
    db.drop_db().await;
}

mod end_to_end {
    use super::support::serve::{
        call_created, fake_aircall, live_config, transfers, RulesDir, Server, WEBHOOK_TOKEN,
    };
    use super::*;

    const RULES: &str = r#"
rule "returning caller"
when last_agent exists
transfer to last_agent
"#;

    #[tokio::test]
    async fn transfer_to_last_agent_through_the_server() {
        let aircall = fake_aircall().await;
        let rules = RulesDir::new(RULES);
        let server = Server::start(&live_config(&rules.file(), &aircall)).await;
        server.wait_ready().await;
        let now = chrono::Utc::now().timestamp();
        // Yesterday Bob (102) answered this caller; an hour ago Alice
        // (101) did; Bob's `call.ended` for the older call arrives last.
        for body in [
            call_event(
                "call.answered",
                11,
                "+44 20 7946 0958",
                Some((102, "bob@example.com")),
                Some(now - 86_400),
                now - 86_400,
            ),
            call_event(
                "call.answered",
                12,
                "+44 20 7946 0958",
                Some((101, "alice@example.com")),
                Some(now - 3_600),
                now - 3_600,
            ),
            call_event(
                "call.ended",
                11,
                "+44 20 7946 0958",
                Some((102, "bob@example.com")),
                Some(now - 86_400),
                now - 60,
            ),
        ] {
            let mut body = body;
            body["token"] = json!(WEBHOOK_TOKEN);
            let (status, answer) = server.webhook(&body).await;
            assert_eq!(status, 200, "{answer}");
            assert_eq!(answer["status"], "applied");
        }
        let (status, answer) = server
            .webhook(&call_created(13, "+44 20 7946 0958", Some(WEBHOOK_TOKEN)))
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["decision"]["rule"]["name"], "returning caller");
        support::serve::eventually("the transfer", || async {
            transfers(&aircall).await.len() == 1
        })
        .await;
        let sent = transfers(&aircall).await;
        assert_eq!(sent[0].url.path(), "/v1/calls/13/transfers");
        let body: Value = serde_json::from_slice(&sent[0].body).unwrap();
        assert_eq!(body, json!({"user_id": 101}));

        // A caller with no history: no rule matches, nothing is sent.
        let (_, answer) = server
            .webhook(&call_created(14, "+44 20 7946 0959", Some(WEBHOOK_TOKEN)))
            .await;
        assert_eq!(answer["decision"]["rule"], Value::Null);
        server.stop().await;
        assert_eq!(transfers(&aircall).await.len(), 1);
    }
}
