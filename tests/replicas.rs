//! Two replicas behind a load balancer sharing one PostgreSQL (when
//! `SWITCHBOARD_TEST_POSTGRES` names a server): both receive every
//! webhook, some twice; the fake Aircall must see exactly one transfer per
//! call, and the log must say which replica decided and which saw a
//! duplicate.

#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

mod serve_support;
mod store_support;

use std::collections::HashMap;

use serde_json::Value;
use serve_support::{
    call_created, eventually, fake_aircall, live_config, transfers, RulesDir, Server, RULES,
    WEBHOOK_TOKEN,
};
use store_support::TestDb;
use switchboard::store::{DecisionQuery, StoreConfig};

/// Callers of `RULES` whose calls are transferred.
const ROUTED: [&str; 4] = [
    "+44 20 7946 0958",
    "+44 20 7946 0959",
    "+44 20 7946 0960",
    "+44 20 7946 0961",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_transfer_each_call_exactly_once() {
    let Some(db) = TestDb::postgres("two_replicas_transfer_each_call_exactly_once").await else {
        return;
    };
    let aircall = fake_aircall().await;
    let rules = RulesDir::new(RULES);
    let mut servers = Vec::new();
    for name in ["replica-a", "replica-b"] {
        let mut config = live_config(&rules.file(), &aircall);
        config.state = db.location();
        config.store = StoreConfig {
            replica: Some(name.to_owned()),
            replicas: 2,
            ..StoreConfig::default()
        };
        let server = Server::start(&config).await;
        server.wait_ready().await;
        servers.push(server);
    }
    let (a, b) = (&servers[0], &servers[1]);

    // 60 calls; every webhook goes to both replicas at once, and every
    // third one is delivered a second time to each (Aircall's at-least-once).
    let calls: Vec<i64> = (5000..5060).collect();
    let http = reqwest::Client::new();
    let mut deliveries = Vec::new();
    for &call in &calls {
        let caller = ROUTED[(call as usize) % ROUTED.len()];
        let body = call_created(call, caller, Some(WEBHOOK_TOKEN)).to_string();
        let times = if call % 3 == 0 { 2 } else { 1 };
        for _ in 0..times {
            let (http, body) = (http.clone(), body.clone());
            // Alternate which replica hears first, as a balancer would.
            let urls = if call % 2 == 0 {
                (a.url("/aircall/calls"), b.url("/aircall/calls"))
            } else {
                (b.url("/aircall/calls"), a.url("/aircall/calls"))
            };
            deliveries.push(tokio::spawn(async move {
                let post = |url: String| {
                    let (http, body) = (http.clone(), body.clone());
                    async move {
                        let response = http.post(url).body(body).send().await.unwrap();
                        let status = response.status().as_u16();
                        (status, response.json::<Value>().await.unwrap())
                    }
                };
                tokio::join!(post(urls.0), post(urls.1))
            }));
        }
    }
    let mut answers = Vec::new();
    for delivery in deliveries {
        answers.push(delivery.await.unwrap());
    }
    let mut decided: HashMap<i64, usize> = HashMap::new();
    for (call, ((status_a, answer_a), (status_b, answer_b))) in calls
        .iter()
        .flat_map(|&call| std::iter::repeat_n(call, if call % 3 == 0 { 2 } else { 1 }))
        .zip(answers)
    {
        assert_eq!((status_a, status_b), (200, 200), "{answer_a} {answer_b}");
        for answer in [answer_a, answer_b] {
            match answer["status"].as_str() {
                Some("decided") => *decided.entry(call).or_default() += 1,
                Some("duplicate") => {}
                other => panic!("unexpected answer {other:?}: {answer}"),
            }
        }
    }
    // Exactly one decision per call across both replicas.
    assert_eq!(decided.len(), calls.len());
    assert!(decided.values().all(|&n| n == 1), "{decided:?}");

    eventually("one transfer per call", || async {
        transfers(&aircall).await.len() >= calls.len()
    })
    .await;
    // Give a straggler the chance to show up before counting.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut per_call: HashMap<String, usize> = HashMap::new();
    for request in transfers(&aircall).await {
        *per_call.entry(request.url.path().to_owned()).or_default() += 1;
    }
    assert_eq!(per_call.len(), calls.len());
    assert!(per_call.values().all(|&n| n == 1), "{per_call:?}");

    // The shared log: per call one decided record, the rest duplicates
    // (which replica won each call is a matter of timing).
    let store = a.state.store();
    let entries = store
        .decisions(&DecisionQuery {
            limit: 1000,
            ..DecisionQuery::default()
        })
        .await
        .unwrap();
    let expected_records: usize = calls.iter().map(|c| if c % 3 == 0 { 4 } else { 2 }).sum();
    assert_eq!(entries.len(), expected_records);
    let decided_by: Vec<&str> = entries
        .iter()
        .filter(|e| e.disposition == switchboard::store::Disposition::Decided)
        .map(|e| e.replica.as_str())
        .collect();
    assert_eq!(decided_by.len(), calls.len());
    for server in servers {
        server.stop().await;
    }
    db.drop_db().await;
}
