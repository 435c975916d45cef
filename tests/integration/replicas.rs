//! Two replicas behind a load balancer sharing one PostgreSQL (when
//! `SWITCHBOARD_TEST_POSTGRES` names a server): both receive every
//! webhook, some twice; the fake Aircall must see exactly one transfer per
//! call, and the log must say which replica decided and which saw a
//! duplicate. The same with two `serve` processes of one replica name,
//! one of them killed and restarted again and again.

#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

use crate::support;
use std::collections::HashMap;

use serde_json::Value;
use support::serve::{
    call_created, eventually, fake_aircall, live_config, transfers, RulesDir, Server, RULES,
    WEBHOOK_TOKEN,
};
use support::store::TestDb;
use switchboard::store::{DecisionQuery, StoreConfig};

/// Callers of `RULES` whose calls are transferred.
const ROUTED: [&str; 4] = [
    "+44 20 7946 0958",
    "+44 20 7946 0959",
    "+44 20 7946 0960",
    "+44 20 7946 0961",
];

#[ignore = "needs SWITCHBOARD_TEST_POSTGRES"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_transfer_each_call_exactly_once() {
    let db = TestDb::postgres("two_replicas_transfer_each_call_exactly_once").await;
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

    // Stopping finishes every queued action: a late duplicate would have
    // been sent by then, so the count below is final.
    for server in servers {
        server.stop().await;
    }
    let mut per_call: HashMap<String, usize> = HashMap::new();
    for request in transfers(&aircall).await {
        *per_call.entry(request.url.path().to_owned()).or_default() += 1;
    }
    assert_eq!(per_call.len(), calls.len());
    assert!(per_call.values().all(|&n| n == 1), "{per_call:?}");
    db.drop_db().await;
}

/// Two `serve` processes with ONE replica name on one PostgreSQL (two
/// processes on one host share the default name), every webhook posted to
/// both, and one of them killed (-9) and restarted at once, again and
/// again, while webhooks flow. A restarted process is a new instance: it
/// must not take the live one's claims for its own unfinished work, and
/// the killed one's claims must be taken over (once its lease lapses) by
/// exactly one of the two. At the end every call was transferred exactly
/// once, except a call whose transfer was being sent at the kill (its
/// "sending" mark committed, the request maybe not): that one is recorded
/// as unknown and never sent again, as transfers are not idempotent.
#[cfg(unix)]
#[ignore = "needs SWITCHBOARD_TEST_POSTGRES"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_named_replicas_killed_and_restarted_transfer_each_call_once() {
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
    use std::sync::{Arc, Mutex, RwLock};
    use std::time::Duration;

    use support::serve::process::ServeProcess;
    use support::serve::{API_ID, API_TOKEN};
    use wiremock::matchers::{method, path_regex};
    use wiremock::{Mock, ResponseTemplate};

    const RESTARTS: usize = 6;
    let db = TestDb::postgres("same_named_replicas_killed_and_restarted").await;
    let aircall = fake_aircall().await;
    // Transfers take a while, so that the killed process leaves claims
    // behind (queued and in flight), and the live one holds some when the
    // other restarts.
    Mock::given(method("POST"))
        .and(path_regex(r"^/v1/calls/\d+/transfers$"))
        .respond_with(ResponseTemplate::new(204).set_delay(Duration::from_millis(50)))
        .with_priority(1)
        .mount(&aircall)
        .await;
    let dir = RulesDir::new(
        "rule \"UK\"\nwhen caller starts with \"+44\"\ntransfer to \"+33176360695\"\n",
    );
    let config = dir.path().join("switchboard.yaml");
    std::fs::write(
        &config,
        format!(
            "rules: main.rules\nstate: {}\nwatch: off\nwebhook_tokens: [{WEBHOOK_TOKEN}]\n\
             action_deadline: 60s\ndispatch_workers: 4\n\
             aircall:\n  api_id: {API_ID}\n  api_token: {API_TOKEN}\n  base_url: {}\n  \
             rate_limit_per_minute: 1000000\n\
             store:\n  replica: same-name\n  replicas: 2\n  lease_expiry: 2s\n",
            db.url,
            aircall.uri()
        ),
    )
    .unwrap();
    let start = {
        let config = config.display().to_string();
        Arc::new(move || ServeProcess::start(&["--config", &config]))
    };
    let mut processes = Vec::new();
    // One after the other: the first creates the schema.
    for _ in 0..2 {
        let start = Arc::clone(&start);
        processes.push(tokio::task::spawn_blocking(move || start()).await.unwrap());
    }
    let bases = Arc::new(RwLock::new(
        processes
            .iter()
            .map(|process| process.base.clone())
            .collect::<Vec<_>>(),
    ));

    // Callers: each call is posted to both processes at once, and again
    // (Aircall redelivers) until one of them answers 200.
    let delivered: Arc<Mutex<Vec<i64>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let next_id = Arc::new(AtomicI64::new(2_000_000));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut callers = Vec::new();
    for _ in 0..4 {
        let (http, bases, delivered, stop, next_id) = (
            http.clone(),
            Arc::clone(&bases),
            Arc::clone(&delivered),
            Arc::clone(&stop),
            Arc::clone(&next_id),
        );
        callers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                let body = call_created(id, "+44 20 7946 0958", Some(WEBHOOK_TOKEN)).to_string();
                let give_up = tokio::time::Instant::now() + Duration::from_secs(20);
                loop {
                    let urls: Vec<String> = bases.read().unwrap().clone();
                    let post = |base: String| {
                        let (http, body) = (http.clone(), body.clone());
                        async move {
                            http.post(format!("{base}/aircall/calls"))
                                .body(body)
                                .send()
                                .await
                                .map(|response| response.status().as_u16())
                                .ok()
                        }
                    };
                    let (first, second) =
                        tokio::join!(post(urls[0].clone()), post(urls[1].clone()));
                    if first == Some(200) || second == Some(200) {
                        delivered.lock().unwrap().push(id);
                        break;
                    }
                    assert!(
                        tokio::time::Instant::now() < give_up,
                        "call {id} was never acknowledged"
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        }));
    }

    // kill -9 one process, restart it at once (its lease has not lapsed
    // yet), and again, each in turn.
    let mut took_over = 0;
    for restart in 0..RESTARTS {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let which = restart % 2;
        let mut killed = processes.swap_remove(which);
        took_over += count_takeovers(killed.lines_so_far());
        tokio::task::spawn_blocking(move || killed.kill_9())
            .await
            .unwrap();
        let start = Arc::clone(&start);
        let restarted = tokio::task::spawn_blocking(move || start()).await.unwrap();
        bases.write().unwrap()[which] = restarted.base.clone();
        processes.insert(which, restarted);
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    for caller in callers {
        caller.await.unwrap();
    }
    let delivered: HashSet<i64> = delivered.lock().unwrap().iter().copied().collect();

    // Both processes run on: the last killed one's calls are taken over
    // once its lease lapses, and every claim ends.
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let unfinished: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM call_claims WHERE state IN ('pending', 'sending')",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if unfinished == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{unfinished} claims still unfinished"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for process in &mut processes {
        took_over += count_takeovers(process.lines_so_far());
    }

    let mut sent: HashMap<i64, usize> = HashMap::new();
    for request in transfers(&aircall).await {
        let id = request
            .url
            .path()
            .strip_prefix("/v1/calls/")
            .and_then(|rest| rest.strip_suffix("/transfers"))
            .and_then(|id| id.parse::<i64>().ok())
            .unwrap();
        *sent.entry(id).or_default() += 1;
    }
    let unknown: Vec<(i64,)> = sqlx::query_as(
        "SELECT call_id FROM action_outcomes WHERE action = 'transfer' AND status = 'unknown'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let unknown: HashSet<i64> = unknown.into_iter().map(|(id,)| id).collect();
    eprintln!(
        "{} calls, {RESTARTS} restarts, {took_over} takeovers, {} transfers recorded \
         unknown ({} of them never sent)",
        delivered.len(),
        unknown.len(),
        unknown.iter().filter(|id| !sent.contains_key(id)).count()
    );
    assert!(
        delivered.len() > 200,
        "too little load: {}",
        delivered.len()
    );
    let twice: Vec<(&i64, &usize)> = sent.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "transferred more than once: {twice:?}");
    let never: Vec<&i64> = delivered
        .iter()
        .filter(|id| !sent.contains_key(id) && !unknown.contains(id))
        .collect();
    assert!(never.is_empty(), "never transferred: {never:?}");
    assert!(
        took_over > 0,
        "no process took over the calls of a killed one"
    );
    pool.close().await;
    drop(processes);
    db.drop_db().await;
}

/// Lines that say a process took over the calls of an instance that is
/// gone.
#[cfg(unix)]
fn count_takeovers(lines: &[String]) -> usize {
    lines
        .iter()
        .filter(|line| line.contains("took over the unfinished calls"))
        .count()
}
