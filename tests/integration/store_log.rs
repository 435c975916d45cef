//! The state store on SQLite (always) and PostgreSQL (when
//! `SWITCHBOARD_TEST_POSTGRES` names a server): the decision log, claims,
//! outcomes, recovery after a crash, release after a 503, and pruning.
//! Each behaviour is one async function run against both engines.

#![expect(clippy::unwrap_used, reason = "tests")]

use crate::support;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use support::store::{sqlite_store, test_config, TestDb};
use switchboard::store::record::ClaimRequest;
use switchboard::store::{
    ContactLookupRecord, DecisionQuery, Disposition, OutcomeRecord, RuleLabel, Store, StoreConfig,
    WebhookRecord,
};

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(seconds, 0).unwrap()
}

fn decided(call_id: i64, received: DateTime<Utc>, caller: &str) -> WebhookRecord {
    let mut record = WebhookRecord::new(received, "call.created", Disposition::Decided);
    record.call_id = Some(call_id);
    record.caller = Some(caller.to_owned());
    record.number = Some("+43720880079".to_owned());
    record.revision = Some("rev1".to_owned());
    record.rule = Some(RuleLabel {
        name: Some("VIP".to_owned()),
        file: Some("rules/main.rules".to_owned()),
        line: 12,
    });
    record.actions = Some(json!([
        {"type": "transfer", "to": {"user": "alice@example.com"}, "fallbacks": [{"team": "Sales"}]},
        {"type": "tag", "tag": "VIP"}
    ]));
    record.call_started_at = Some(received);
    record.contact = Some(ContactLookupRecord {
        status: "found".to_owned(),
        detail: Some("sql #1".to_owned()),
    });
    record.decide_time = Some(Duration::from_micros(420));
    record.claim = Some(ClaimRequest {
        call_started_at: received,
        deadline: Duration::from_secs(30),
        action_count: 2,
    });
    record
}

fn outcome(call_id: i64, action: &str, status: &str) -> OutcomeRecord {
    OutcomeRecord {
        call_id,
        recorded_at: Utc::now(),
        action: action.to_owned(),
        target: Some("user 42 (alice@example.com)".to_owned()),
        status: status.to_owned(),
        reason: None,
        attempts: 1,
        latency: Duration::from_millis(12),
    }
}

async fn log_and_read_back(store: Store) {
    let now = Utc::now();
    let committed = store
        .record(decided(1001, now, "+33176360695"))
        .await
        .unwrap();
    assert_eq!(committed.claimed, Some(true));
    // A second delivery of the same call: recorded, but as a duplicate.
    let again = store
        .record(decided(1001, now, "+33176360695"))
        .await
        .unwrap();
    assert_eq!(again.claimed, Some(false));
    // A user event: recorded, no claim.
    let user = store
        .record(WebhookRecord::new(now, "user.opened", Disposition::Applied))
        .await
        .unwrap();
    assert_eq!(user.claimed, None);
    store.record_outcome(outcome(1001, "transfer", "sent"));
    store.record_outcome(outcome(1001, "tag", "sent"));
    store.flush().await.unwrap();

    let entries = store
        .decisions(&DecisionQuery {
            call_id: Some(1001),
            ..DecisionQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(entries.len(), 2, "{entries:#?}");
    let duplicate = &entries[0];
    let first = &entries[1];
    assert_eq!(duplicate.disposition, Disposition::Duplicate);
    assert!(duplicate.outcomes.is_empty());
    assert_eq!(first.disposition, Disposition::Decided);
    let rule = first.rule.as_ref().unwrap();
    assert_eq!(rule.name.as_deref(), Some("VIP"));
    assert_eq!(rule.line, 12);
    assert_eq!(first.caller.as_deref(), Some("+33176360695"));
    assert_eq!(
        first.actions.as_ref().unwrap()[0]["to"]["user"],
        "alice@example.com"
    );
    assert_eq!(first.contact.as_ref().unwrap().status, "found");
    assert_eq!(first.decide_ms, Some(0.42));
    let statuses: Vec<&str> = first.outcomes.iter().map(|o| o.status.as_str()).collect();
    assert_eq!(statuses, ["sent", "sent"]);
    assert_eq!(first.outcomes[0].latency, Duration::from_millis(12));

    // Filters: caller, since, limit, every event.
    let by_caller = store
        .decisions(&DecisionQuery {
            caller: Some("+33176360695".to_owned()),
            ..DecisionQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(by_caller.len(), 2);
    let none_since = store
        .decisions(&DecisionQuery {
            since: Some(now + chrono::Duration::seconds(5)),
            ..DecisionQuery::default()
        })
        .await
        .unwrap();
    assert!(none_since.is_empty());
    let all = store
        .decisions(&DecisionQuery {
            all_events: true,
            limit: 2,
            ..DecisionQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    // Nothing is left to recover: both actions have outcomes.
    let recovery = store.recover(Utc::now()).await.unwrap();
    assert!(recovery.resume.is_empty());
    assert_eq!(recovery.expired, 0);
    store.close().await;
}

async fn concurrent_claims_have_one_winner(store: Store) {
    let now = Utc::now();
    let mut tasks = Vec::new();
    for delivery in 0..4 {
        for call in 0..50 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let _ = delivery;
                store
                    .record(decided(5000 + call, now, "+33176360695"))
                    .await
                    .unwrap()
                    .claimed
                    .unwrap()
            }));
        }
    }
    let mut won = 0;
    for task in tasks {
        if task.await.unwrap() {
            won += 1;
        }
    }
    assert_eq!(won, 50);
    let stats = store.stats();
    assert_eq!(stats.records, 200);
    assert!(stats.batches < 200, "commits were grouped: {stats:?}");
    store.close().await;
}

/// What a process decided and did not finish is taken over by the next
/// one (a new instance of the same replica), never by itself while alive.
async fn unfinished_decisions_are_resumed_or_expired(first: Store) {
    let now = Utc::now();
    let store = &first;
    // Within its deadline, nothing done yet.
    store
        .record(decided(
            7001,
            now - chrono::Duration::seconds(5),
            "+33176360695",
        ))
        .await
        .unwrap();
    // Within its deadline, the transfer done, the tag not.
    store
        .record(decided(
            7002,
            now - chrono::Duration::seconds(5),
            "+33176360695",
        ))
        .await
        .unwrap();
    store.record_outcome(outcome(7002, "transfer", "sent"));
    // Past its deadline.
    store
        .record(decided(
            7003,
            now - chrono::Duration::seconds(60),
            "+33176360695",
        ))
        .await
        .unwrap();
    // Within its deadline, its transfer was being sent when the process
    // died: not sent again, recorded as unknown; the tag is still owed.
    store
        .record(decided(
            7004,
            now - chrono::Duration::seconds(5),
            "+33176360695",
        ))
        .await
        .unwrap();
    assert!(store.mark_sending(7004).await.unwrap());
    store.flush().await.unwrap();
    // A live instance's claims are its own business, this one's included.
    assert_eq!(
        first.recover(now).await.unwrap(),
        switchboard::store::Recovery::default()
    );
    // The process stops; the next one (same name, new instance) takes over.
    first.close().await;
    let store = Store::open(first.location(), first.config()).await.unwrap();
    assert_ne!(store.instance(), first.instance());

    let recovery = store.recover(now).await.unwrap();
    assert_eq!(recovery.expired, 1);
    let resumed: Vec<(i64, usize)> = recovery
        .resume
        .iter()
        .map(|call| (call.call_id, call.actions.len()))
        .collect();
    assert_eq!(resumed, [(7001, 2), (7002, 1), (7004, 1)]);
    assert!(matches!(
        recovery.resume[2].actions[0],
        switchboard::lang::Action::Tag { .. }
    ));
    let unknown = store
        .decisions(&DecisionQuery {
            call_id: Some(7004),
            ..DecisionQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(unknown[0].outcomes[0].status, "unknown");
    assert_eq!(unknown[0].outcomes[0].action, "transfer");
    let rule = recovery.resume[0].rule.as_ref().unwrap();
    assert_eq!((rule.name.as_deref(), rule.line), (Some("VIP"), 12));
    assert_eq!(recovery.resume[0].revision, "rev1");
    assert!(matches!(
        recovery.resume[1].actions[0],
        switchboard::lang::Action::Tag { .. }
    ));
    // The expired call's actions are recorded as expired.
    let expired = store
        .decisions(&DecisionQuery {
            call_id: Some(7003),
            ..DecisionQuery::default()
        })
        .await
        .unwrap();
    let statuses: Vec<&str> = expired[0]
        .outcomes
        .iter()
        .map(|o| o.status.as_str())
        .collect();
    assert_eq!(statuses, ["expired", "expired"]);
    // A second recovery does not expire it again.
    let again = store.recover(now).await.unwrap();
    assert_eq!(again.expired, 0);
    store.close().await;
}

/// Only the instance that holds a claim marks its transfer as being sent
/// (a transfer goes out only once marked): an instance that was taken for
/// gone, and whose claims were taken over, sends nothing.
async fn only_the_claims_owner_marks_a_transfer_as_sending(first: Store) {
    let now = Utc::now();
    first.record(decided(7101, now, "+1")).await.unwrap();
    first.close().await;
    let second = Store::open(first.location(), first.config()).await.unwrap();
    // Not its claim yet.
    assert!(!second.mark_sending(7101).await.unwrap());
    let recovery = second.recover(now).await.unwrap();
    assert_eq!(recovery.resume.len(), 1);
    assert!(second.mark_sending(7101).await.unwrap());
    // A second transfer of the same decision is marked as well.
    assert!(second.mark_sending(7101).await.unwrap());
    // A call nobody claimed is not marked.
    assert!(!second.mark_sending(7199).await.unwrap());
    second.close().await;
}

async fn released_claim_can_be_taken_again(store: Store) {
    let now = Utc::now();
    assert_eq!(
        store
            .record(decided(8001, now, "+1"))
            .await
            .unwrap()
            .claimed,
        Some(true)
    );
    store.release_claim(8001).await.unwrap();
    assert_eq!(
        store
            .record(decided(8001, now, "+1"))
            .await
            .unwrap()
            .claimed,
        Some(true)
    );
    let entries = store
        .decisions(&DecisionQuery {
            call_id: Some(8001),
            ..DecisionQuery::default()
        })
        .await
        .unwrap();
    let dispositions: Vec<Disposition> = entries.iter().map(|e| e.disposition).collect();
    assert_eq!(dispositions, [Disposition::Decided, Disposition::Rejected]);
    store.close().await;
}

async fn old_records_are_pruned(store: Store) {
    let now = Utc::now();
    let old = now - chrono::Duration::days(40);
    store.record(decided(9001, old, "+1")).await.unwrap();
    store.record_outcome(OutcomeRecord {
        recorded_at: old,
        ..outcome(9001, "transfer", "sent")
    });
    store.record(decided(9002, now, "+1")).await.unwrap();
    store.flush().await.unwrap();
    let report = store.prune(now).await.unwrap();
    assert_eq!(
        (report.webhooks, report.outcomes, report.claims),
        (1, 1, 1),
        "{report:?}"
    );
    let left = store.decisions(&DecisionQuery::default()).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].call_id, Some(9002));
    assert_eq!(store.prune(now).await.unwrap().webhooks, 0);
    store.close().await;
}

/// An outcome nobody waits for is committed by itself shortly, and one
/// queued when a record commits goes along with it: no flush needed.
async fn outcomes_are_committed_without_a_flush(store: Store) {
    let now = Utc::now();
    store.record(decided(9101, now, "+1")).await.unwrap();
    store.record_outcome(outcome(9101, "transfer", "sent"));
    let query = DecisionQuery {
        call_id: Some(9101),
        ..DecisionQuery::default()
    };
    let mut waited = Duration::ZERO;
    while store.decisions(&query).await.unwrap()[0]
        .outcomes
        .is_empty()
    {
        assert!(
            waited < Duration::from_secs(2),
            "the outcome was never committed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
        waited += Duration::from_millis(5);
    }
    store.record_outcome(outcome(9102, "transfer", "sent"));
    store.record(decided(9102, now, "+1")).await.unwrap();
    let entries = store
        .decisions(&DecisionQuery {
            call_id: Some(9102),
            ..DecisionQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(entries[0].outcomes.len(), 1, "{entries:?}");
    store.close().await;
}

/// More old records than one pruning chunk (5,000): every chunk's claims
/// go with its records, none is left behind.
async fn pruning_goes_chunk_by_chunk(store: Store) {
    let now = Utc::now();
    let old = now - chrono::Duration::days(40);
    let mut writes = tokio::task::JoinSet::new();
    for call_id in 20_000..25_200 {
        let store = store.clone();
        writes.spawn(async move { store.record(decided(call_id, old, "+1")).await });
    }
    while let Some(written) = writes.join_next().await {
        written.unwrap().unwrap();
    }
    store.record(decided(30_000, now, "+1")).await.unwrap();
    let report = store.prune(now).await.unwrap();
    assert_eq!(
        (report.webhooks, report.claims),
        (5_200, 5_200),
        "{report:?}"
    );
    // The newer call's claim is still there: a second delivery of it is a
    // duplicate.
    let again = store.record(decided(30_000, now, "+1")).await.unwrap();
    assert_eq!(again.claimed, Some(false));
    // The pruned calls' claims are gone: a delivery now would claim anew.
    let anew = store.record(decided(20_000, now, "+1")).await.unwrap();
    assert_eq!(anew.claimed, Some(true));
    store.close().await;
}

// Two workers, as `serve` runs: commands then really arrive while another
// commits, which is what grouping commits is about.
macro_rules! on_both_engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    let store = super::sqlite_store(dir.path(), &super::test_config("a")).await;
                    super::$name(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[ignore = "needs SWITCHBOARD_TEST_POSTGRES"]
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::TestDb::postgres(stringify!($name)).await;
                    let store = super::Store::open(&db.location(), &super::test_config("a"))
                        .await
                        .unwrap();
                    super::$name(store).await;
                    db.drop_db().await;
                }
            )*
        }
    };
}

on_both_engines!(
    log_and_read_back,
    concurrent_claims_have_one_winner,
    unfinished_decisions_are_resumed_or_expired,
    only_the_claims_owner_marks_a_transfer_as_sending,
    released_claim_can_be_taken_again,
    old_records_are_pruned,
    pruning_goes_chunk_by_chunk,
    outcomes_are_committed_without_a_flush,
);

/// Waits until instance `instance`'s lease has lapsed, by the database's
/// clock.
async fn lease_lapsed(db: &TestDb, instance: &str) {
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let lapsed: bool = sqlx::query_scalar(
            "SELECT expires_at < (extract(epoch FROM now()) * 1000)::bigint \
             FROM replica_leases WHERE instance = $1",
        )
        .bind(instance)
        .fetch_one(&pool)
        .await
        .unwrap();
        if lapsed {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lease never lapsed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pool.close().await;
}

/// Three processes with one replica name on one PostgreSQL: the claims of
/// a live instance are never taken over (a same-named process used to
/// take them all at its start, and transfer them a second time); once
/// one is gone (killed: its lease lapses), each of its unfinished claims
/// goes to exactly one of the others, however many look at once, and a
/// live one's heartbeat keeps its own claims with it.
#[ignore = "needs SWITCHBOARD_TEST_POSTGRES"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_same_named_instances_take_over_only_what_the_gone_one_left() {
    let db = TestDb::postgres("same_named_instances_take_over").await;
    let config = StoreConfig {
        lease_expiry: Duration::from_secs(2),
        ..test_config("same-name")
    };
    let gone = Store::open(&db.location(), &config).await.unwrap();
    let b = Store::open(&db.location(), &config).await.unwrap();
    let c = Store::open(&db.location(), &config).await.unwrap();
    let now = Utc::now();
    for call_id in 7201..=7220 {
        gone.record(decided(call_id, now, "+1")).await.unwrap();
    }
    assert!(gone.mark_sending(7220).await.unwrap());
    for call_id in 7301..=7305 {
        b.record(decided(call_id, now, "+1")).await.unwrap();
    }
    for live in [&b, &c] {
        assert_eq!(
            live.recover(now).await.unwrap(),
            switchboard::store::Recovery::default()
        );
    }

    // Killed: no `close`, so its lease lapses by itself.
    let gone_instance = gone.instance().to_owned();
    drop(gone);
    lease_lapsed(&db, &gone_instance).await;
    let (by_b, by_c) = tokio::join!(b.recover(now), c.recover(now));
    let mut taken: Vec<i64> = by_b
        .unwrap()
        .resume
        .into_iter()
        .chain(by_c.unwrap().resume)
        .map(|call| call.call_id)
        .collect();
    taken.sort_unstable();
    assert_eq!(taken, (7201..=7220).collect::<Vec<_>>());
    // Nothing is left for a later look, and b's claims stayed with b.
    for live in [&b, &c] {
        assert!(live.recover(now).await.unwrap().resume.is_empty());
    }
    for call_id in 7301..=7305 {
        assert!(b.mark_sending(call_id).await.unwrap());
    }
    // The transfer that was being sent is recorded unknown once, not twice.
    let entries = b
        .decisions(&DecisionQuery {
            call_id: Some(7220),
            ..DecisionQuery::default()
        })
        .await
        .unwrap();
    let statuses: Vec<&str> = entries[0]
        .outcomes
        .iter()
        .map(|o| o.status.as_str())
        .collect();
    assert_eq!(statuses, ["unknown"]);
    b.close().await;
    c.close().await;
    db.drop_db().await;
}

/// An instance whose lease lapsed while it lived (stalled, or cut off
/// from the database) may have lost its claims to another: it can no
/// longer mark their transfers as being sent, so it never sends them, and
/// giving a claim back no longer drops the new owner's.
#[ignore = "needs SWITCHBOARD_TEST_POSTGRES"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_instance_whose_lease_lapsed_sends_nothing_it_lost() {
    let db = TestDb::postgres("lease_lapsed_sends_nothing").await;
    let config = test_config("same-name");
    let stalled = Store::open(&db.location(), &config).await.unwrap();
    let other = Store::open(&db.location(), &config).await.unwrap();
    let now = Utc::now();
    stalled.record(decided(7401, now, "+1")).await.unwrap();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    sqlx::query("UPDATE replica_leases SET expires_at = 0 WHERE instance = $1")
        .bind(stalled.instance())
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let recovery = other.recover(now).await.unwrap();
    assert_eq!(recovery.resume.len(), 1);
    assert!(!stalled.mark_sending(7401).await.unwrap());
    assert!(other.mark_sending(7401).await.unwrap());
    stalled.release_claim(7401).await.unwrap();
    let again = stalled.record(decided(7401, now, "+1")).await.unwrap();
    assert_eq!(again.claimed, Some(false));
    stalled.close().await;
    other.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn sqlite_store_is_created_on_demand_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/data/switchboard.db");
    let location = switchboard::store::StateLocation::Sqlite(path.clone());
    // Reading a store that does not exist says so, and creates nothing.
    let missing = Store::open_existing(&location).await.unwrap_err();
    assert!(missing.to_string().contains("no state store"), "{missing}");
    assert!(!path.exists());
    let store = Store::open(&location, &StoreConfig::default())
        .await
        .unwrap();
    store
        .record(WebhookRecord::new(
            at(1_646_389_739),
            "call.created",
            Disposition::Skipped,
        ))
        .await
        .unwrap();
    assert!(path.exists());
    assert!(dir.path().join("nested/data/switchboard.db-wal").exists());
    store.close().await;
    // Opened again (migrations already applied), the record is there.
    let reader = Store::open_existing(&location).await.unwrap();
    let entries = reader.decisions(&DecisionQuery::default()).await.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].received_at, at(1_646_389_739));
    reader.close().await;
}

/// One process writes a SQLite file: a second writer is refused with a
/// message that says what to do, readers are not, and closing the first
/// lets another writer in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_has_one_writer_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let location = switchboard::store::StateLocation::Sqlite(dir.path().join("state.db"));
    let first = Store::open(&location, &StoreConfig::default())
        .await
        .unwrap();
    let refused = Store::open(&location, &StoreConfig::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("another process is writing it") && refused.contains("state.db.lock"),
        "{refused}"
    );
    let reader = Store::open_existing(&location).await.unwrap();
    assert!(reader
        .decisions(&DecisionQuery::default())
        .await
        .unwrap()
        .is_empty());
    reader.close().await;
    first.close().await;
    let second = Store::open(&location, &StoreConfig::default())
        .await
        .unwrap();
    second.close().await;
}

/// A store made by the first schema keeps its records and claims through
/// the later migrations (tables rebuilt without `AUTOINCREMENT`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_of_the_first_schema_is_migrated_with_its_data() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first-migration");
    std::fs::create_dir(&first).unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/migrations/sqlite/20261121000001_init.sql"
        ),
        first.join("20261121000001_init.sql"),
    )
    .unwrap();
    let path = dir.path().join("old.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::migrate::Migrator::new(first.as_path())
        .await
        .unwrap()
        .run(&mut conn)
        .await
        .unwrap();
    sqlx::raw_sql(
        "INSERT INTO webhooks (id, received_at, event, call_id, disposition, replica) \
           VALUES (41, 1646389739000, 'call.created', 7001, 'decided', 'old'); \
         INSERT INTO call_claims (call_id, claimed_at, replica, deadline_at, action_count, state) \
           VALUES (7001, 1646389739000, 'old', 1646389769000, 1, 'done');",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let location = switchboard::store::StateLocation::Sqlite(path);
    let store = Store::open(&location, &test_config("new")).await.unwrap();
    let now = Utc::now();
    // The old claim still holds: a second delivery is a duplicate.
    let again = store.record(decided(7001, now, "+1")).await.unwrap();
    assert_eq!(again.claimed, Some(false));
    store.record(decided(7002, now, "+1")).await.unwrap();
    let entries = store.decisions(&DecisionQuery::default()).await.unwrap();
    let mut ids: Vec<_> = entries
        .iter()
        .map(|entry| (entry.id, entry.call_id))
        .collect();
    ids.sort_unstable();
    // Ids go on from the old ones.
    assert_eq!(ids[0], (41, Some(7001)));
    assert!(ids[1..].iter().all(|&(id, _)| id > 41), "{ids:?}");
    assert_eq!(ids.len(), 3);
    store.close().await;
}

/// Under writes that never pause, a PASSIVE checkpoint never catches up
/// and SQLite never starts the WAL over: the store must do it once the
/// WAL passes `wal_limit_mb`. A restart truncates the WAL file to that
/// limit, so the file shrinks while writes go on; without restarts it
/// only grows. (How large it gets in between depends on how fast the disk
/// takes the checkpoints' fsyncs, so that is not what is asserted: with
/// other tests' databases syncing beside this one, a checkpoint took
/// longer than a whole fixed-length run.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_wal_stays_bounded_under_sustained_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let wal = dir.path().join("state.db-wal");
    let config = StoreConfig {
        wal_limit_mb: 1,
        ..test_config("a")
    };
    let location = switchboard::store::StateLocation::Sqlite(path);
    let store = Store::open(&location, &config).await.unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|writer| {
            let store = store.clone();
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                let mut call_id = writer * 1_000_000;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    call_id += 1;
                    store
                        .record(decided(call_id, Utc::now(), "+33176360695"))
                        .await
                        .unwrap();
                }
                call_id - writer * 1_000_000
            })
        })
        .collect();
    let started = std::time::Instant::now();
    let (mut shrinks, mut previous) = (0, 0);
    while shrinks < 3 && started.elapsed() < std::time::Duration::from_secs(60) {
        let size = std::fs::metadata(&wal).map_or(0, |m| m.len());
        if size < previous {
            shrinks += 1;
        }
        previous = size;
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut written = 0;
    for writer in writers {
        written += writer.await.unwrap();
    }
    let stats = store.stats();
    assert!(
        shrinks >= 3,
        "the WAL was started over {shrinks} times in 60 s of writes ({written} records, {stats:?})"
    );
    store.close().await;
}
