//! Contact sources against real data: SQLite files (always), PostgreSQL and
//! MariaDB (when `SWITCHBOARD_TEST_POSTGRES` / `SWITCHBOARD_TEST_MYSQL`
//! name a server), CSV files; typed fields, number formats, source order,
//! the cache, the timeout (a slow query), broken sources.

#![expect(clippy::unwrap_used, reason = "tests")]

use crate::support;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection;
use support::store::TestDb;
use switchboard::contacts::aircall::{ApiContact, ContactSearch, SearchFuture};
use switchboard::contacts::config::{CsvSourceConfig, SqlSourceConfig};
use switchboard::contacts::{Contacts, ContactsConfig, LookupStatus, SourceConfig};
use switchboard::lang::Value;

fn sql(url: &str, query: &str) -> SourceConfig {
    SourceConfig::Sql(SqlSourceConfig {
        url: url.to_owned(),
        query: query.to_owned(),
        name: None,
        pool_size: 2,
    })
}

fn csv(path: &std::path::Path) -> SourceConfig {
    SourceConfig::Csv(CsvSourceConfig {
        path: path.to_owned(),
        phone_column: "phone".to_owned(),
        delimiter: ',',
    })
}

fn config(sources: Vec<SourceConfig>) -> ContactsConfig {
    ContactsConfig {
        sources,
        ..ContactsConfig::default()
    }
}

/// A SQLite contacts database with typed columns.
async fn sqlite_crm(dir: &std::path::Path) -> String {
    let path = dir.join("crm.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE customers (phone TEXT PRIMARY KEY, name TEXT, account_manager TEXT, \
           vip BOOLEAN, tier INTEGER, score REAL, language TEXT, note TEXT);
         INSERT INTO customers VALUES ('+33176360695', 'Jeanne', 'alice@example.com', 1, 3, 4.5, 'fr', NULL);
         INSERT INTO customers VALUES ('+442071234567', 'Bob', NULL, 0, 1, 0.5, 'en', 'late payer');",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    format!("sqlite://{}", path.display())
}

const CRM_QUERY: &str = "SELECT name, account_manager AS agent, vip, tier, score, language, note \
     FROM customers WHERE phone = $1";

#[tokio::test]
async fn sqlite_source_gives_typed_fields() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_crm(dir.path()).await;
    let contacts = Contacts::open(&config(vec![sql(&url, CRM_QUERY)]), None).unwrap();
    let lookup = contacts.lookup("+33176360695").await;
    assert_eq!(
        lookup.status,
        LookupStatus::Found {
            source: "sql #1".into()
        }
    );
    let contact = lookup.contact.unwrap();
    assert_eq!(contact.get("name"), Some(&Value::Text("Jeanne".into())));
    assert_eq!(
        contact.get("agent"),
        Some(&Value::Text("alice@example.com".into()))
    );
    assert_eq!(contact.get("vip"), Some(&Value::Bool(true)));
    assert_eq!(contact.get("tier"), Some(&Value::Int(3)));
    assert_eq!(contact.get("score"), Some(&Value::Float(4.5)));
    // NULL is a missing field.
    assert_eq!(contact.get("note"), None);
    assert_eq!(contact.fields.get("note"), Some(&Value::Null));

    let bob = contacts.lookup("+442071234567").await.contact.unwrap();
    assert_eq!(bob.get("vip"), Some(&Value::Bool(false)));
    assert_eq!(bob.get("agent"), None);

    let nobody = contacts.lookup("+18005550100").await;
    assert_eq!(nobody.status, LookupStatus::NotFound);
    assert!(nobody.contact.is_none());

    // The checks `check --config` runs.
    let reports = contacts.check().await;
    assert_eq!(reports[0].error, None);
    assert_eq!(
        reports[0].fields.as_deref().unwrap(),
        ["name", "agent", "vip", "tier", "score", "language", "note"]
    );
    let missing = switchboard::contacts::missing_fields(["vip", "segment"], &reports);
    assert_eq!(missing, ["segment"]);
    contacts.close().await;
}

#[tokio::test]
async fn a_query_must_take_exactly_one_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_crm(dir.path()).await;
    let contacts = Contacts::open(
        &config(vec![
            sql(
                &url,
                "SELECT name FROM customers WHERE phone = $1 OR name = $2",
            ),
            sql(&url, "SELECT name FROM no_such_table WHERE phone = $1"),
        ]),
        None,
    )
    .unwrap();
    let reports = contacts.check().await;
    let first = reports[0].error.as_deref().unwrap();
    assert!(first.contains("exactly one"), "{first}");
    let second = reports[1].error.as_deref().unwrap();
    assert!(second.contains("no_such_table"), "{second}");
    contacts.close().await;
}

#[tokio::test]
async fn broken_source_is_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_crm(dir.path()).await;
    let file = dir.path().join("contacts.csv");
    std::fs::write(&file, "phone,name\n+44 20 7123 4567,From CSV\n").unwrap();
    let contacts = Contacts::open(
        &config(vec![
            // A database that does not exist, then a broken query.
            sql(
                &format!("sqlite://{}", dir.path().join("missing.db").display()),
                CRM_QUERY,
            ),
            sql(&url, "SELECT nope FROM customers WHERE phone = $1"),
            csv(&file),
        ]),
        None,
    )
    .unwrap();
    // The CSV (third) still answers, with both failures noted.
    let lookup = contacts.lookup("+442071234567").await;
    assert!(matches!(&lookup.status, LookupStatus::Found { source } if source.starts_with("csv")));
    assert_eq!(lookup.errors.len(), 2, "{:?}", lookup.errors);
    let record = lookup.to_record();
    assert_eq!(record.status, "found");
    assert!(record.detail.unwrap().contains("sql #1"));
    // Nobody knows this caller and a source failed: `failed`, not cached.
    let lookup = contacts.lookup("+18005550100").await;
    assert_eq!(lookup.status, LookupStatus::Failed);
    let again = contacts.lookup("+18005550100").await;
    assert!(!again.cached);
    let stats = contacts.stats();
    assert_eq!((stats.found, stats.failed), (1, 2));
    assert_eq!(stats.source_errors, 6);
    contacts.close().await;
}

#[tokio::test]
async fn slow_query_times_out_and_leaves_the_contact_missing() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_crm(dir.path()).await;
    // A recursive CTE that counts to fifty million before answering.
    let slow =
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000000) \
                SELECT name, (SELECT max(i) FROM n) AS counted FROM customers WHERE phone = $1";
    let contacts = Contacts::open(
        &ContactsConfig {
            timeout: Duration::from_millis(100),
            ..config(vec![sql(&url, slow)])
        },
        None,
    )
    .unwrap();
    let started = std::time::Instant::now();
    let lookup = contacts.lookup("+33176360695").await;
    let elapsed = started.elapsed();
    assert_eq!(lookup.status, LookupStatus::Timeout);
    assert!(lookup.contact.is_none());
    assert!(elapsed < Duration::from_millis(400), "{elapsed:?}");
    assert_eq!(lookup.to_record().status, "timeout");
    assert_eq!(contacts.stats().timeout, 1);
}

#[tokio::test]
async fn cache_answers_repeat_callers_until_the_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_crm(dir.path()).await;
    let contacts = Contacts::open(
        &ContactsConfig {
            cache_ttl: Duration::from_millis(300),
            ..config(vec![sql(&url, CRM_QUERY)])
        },
        None,
    )
    .unwrap();
    assert!(!contacts.lookup("+33176360695").await.cached);
    let hit = contacts.lookup("+33176360695").await;
    assert!(hit.cached);
    assert!(hit.contact.is_some());
    // "Unknown caller" is cached too.
    assert!(!contacts.lookup("+18005550100").await.cached);
    assert!(contacts.lookup("+18005550100").await.cached);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(!contacts.lookup("+33176360695").await.cached);
    assert_eq!(contacts.stats().cache_hits, 2);
}

#[tokio::test]
async fn csv_numbers_in_any_format_and_reload_on_change() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("contacts.csv");
    std::fs::write(
        &file,
        "\u{feff}name,Phone,vip,tier,agent\n\
         Jeanne,01 76 36 06 95,true,3,alice@example.com\n\
         Hans,0043 720 880079,false,,\n\
         Bob,(020) 7123-4567,,1,\n\
         Nobody,not a number,true,1,\n",
    )
    .unwrap();
    let contacts = Contacts::open(
        &ContactsConfig {
            default_region: Some("FR".into()),
            ..config(vec![SourceConfig::Csv(CsvSourceConfig {
                path: file.clone(),
                phone_column: "phone".into(),
                delimiter: ',',
            })])
        },
        None,
    )
    .unwrap();
    let jeanne = contacts.lookup("+33176360695").await.contact.unwrap();
    assert_eq!(jeanne.get("vip"), Some(&Value::Bool(true)));
    assert_eq!(jeanne.get("tier"), Some(&Value::Int(3)));
    let hans = contacts.lookup("+43720880079").await.contact.unwrap();
    assert_eq!(hans.get("tier"), None);
    // `(020) 7123-4567` read in the default region (FR) is not London's
    // number: national numbers need the right region.
    assert_eq!(
        contacts.lookup("+442071234567").await.status,
        LookupStatus::NotFound
    );

    // Rewrite the file: the change is picked up and the cache emptied.
    std::fs::write(
        &file,
        "phone,name,vip\n+44 20 7123 4567,Bob,true\n+33 1 76 36 06 95,Jeanne,false\n",
    )
    .unwrap();
    assert_eq!(contacts.reload_changed(), 1);
    assert_eq!(contacts.reload_changed(), 0);
    let bob = contacts.lookup("+442071234567").await;
    assert!(!bob.cached);
    assert_eq!(bob.contact.unwrap().get("vip"), Some(&Value::Bool(true)));
    let jeanne = contacts.lookup("+33176360695").await.contact.unwrap();
    assert_eq!(jeanne.get("vip"), Some(&Value::Bool(false)));

    // A broken rewrite keeps the previous contents in service.
    std::fs::write(&file, "name,vip\nno phone column,true\n").unwrap();
    assert_eq!(contacts.reload_changed(), 0);
    assert!(contacts.lookup("+442071234567").await.contact.is_some());
}

#[tokio::test]
async fn missing_csv_file_is_a_start_up_error() {
    let dir = tempfile::tempdir().unwrap();
    let error = Contacts::open(&config(vec![csv(&dir.path().join("nope.csv"))]), None)
        .unwrap_err()
        .to_string();
    assert!(error.contains("nope.csv"), "{error}");
}

/// A stand-in for the Aircall client that counts searches.
struct FakeSearch {
    calls: AtomicUsize,
    delay: Duration,
}

impl ContactSearch for FakeSearch {
    fn search_by_phone<'a>(
        &'a self,
        e164: &'a str,
        _deadline: tokio::time::Instant,
    ) -> SearchFuture<'a> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(self.delay).await;
            if e164 == "+33176360695" {
                Ok(vec![serde_json::from_str::<ApiContact>(
                    r#"{"id":9,"first_name":"Jeanne","phone_numbers":[{"value":"+33 1 76 36 06 95"}]}"#,
                )
                .unwrap()])
            } else if e164 == "+18005550100" {
                Err("Aircall answered 500: oops".to_owned())
            } else {
                Ok(Vec::new())
            }
        })
    }
}

#[tokio::test]
async fn sources_are_tried_in_order_and_the_first_that_knows_wins() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_crm(dir.path()).await;
    let search = Arc::new(FakeSearch {
        calls: AtomicUsize::new(0),
        delay: Duration::ZERO,
    });
    let contacts = Contacts::open(
        &config(vec![SourceConfig::Aircall, sql(&url, CRM_QUERY)]),
        Some(search.clone() as Arc<dyn ContactSearch>),
    )
    .unwrap();
    let jeanne = contacts.lookup("+33176360695").await;
    assert_eq!(
        jeanne.status,
        LookupStatus::Found {
            source: "aircall".into()
        }
    );
    assert_eq!(jeanne.contact.unwrap().get("id"), Some(&Value::Int(9)));
    // Aircall does not know Bob; the database does.
    let bob = contacts.lookup("+442071234567").await;
    assert_eq!(
        bob.status,
        LookupStatus::Found {
            source: "sql #2".into()
        }
    );
    // Aircall fails; the database does not know the caller either.
    assert_eq!(
        contacts.lookup("+18005550100").await.status,
        LookupStatus::Failed
    );
    assert_eq!(search.calls.load(Ordering::Relaxed), 3);
    // Without credentials an `aircall` source is left out, not fatal.
    let dry = Contacts::open(&config(vec![SourceConfig::Aircall]), None).unwrap();
    assert!(dry.is_empty());
    assert_eq!(
        dry.lookup("+33176360695").await.status,
        LookupStatus::Skipped
    );
}

#[tokio::test]
async fn slow_aircall_search_times_out() {
    let search = Arc::new(FakeSearch {
        calls: AtomicUsize::new(0),
        delay: Duration::from_secs(5),
    });
    let contacts = Contacts::open(
        &ContactsConfig {
            timeout: Duration::from_millis(50),
            ..config(vec![SourceConfig::Aircall])
        },
        Some(search as Arc<dyn ContactSearch>),
    )
    .unwrap();
    assert_eq!(
        contacts.lookup("+33176360695").await.status,
        LookupStatus::Timeout
    );
}

#[ignore = "needs SWITCHBOARD_TEST_POSTGRES"]
#[tokio::test]
async fn postgres_source_types_and_timeout() {
    let db = TestDb::postgres("postgres_source_types_and_timeout").await;
    let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE customers (phone TEXT PRIMARY KEY, name VARCHAR(40), vip BOOLEAN, \
           tier INTEGER, calls BIGINT, score DOUBLE PRECISION, since DATE, note TEXT);
         INSERT INTO customers VALUES ('+33176360695', 'Jeanne', true, 3, 12345678901, 4.5, '2020-01-01', NULL);",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let contacts = Contacts::open(
        &ContactsConfig {
            timeout: Duration::from_millis(200),
            ..config(vec![
                sql(
                    &db.url,
                    "SELECT name, vip, tier, calls, score, note FROM customers WHERE phone = $1",
                ),
                sql(&db.url, "SELECT since FROM customers WHERE phone = $1"),
            ])
        },
        None,
    )
    .unwrap();
    let lookup = contacts.lookup("+33176360695").await;
    let contact = lookup.contact.unwrap();
    assert_eq!(contact.get("name"), Some(&Value::Text("Jeanne".into())));
    assert_eq!(contact.get("vip"), Some(&Value::Bool(true)));
    assert_eq!(contact.get("tier"), Some(&Value::Int(3)));
    assert_eq!(contact.get("calls"), Some(&Value::Int(12_345_678_901)));
    assert_eq!(contact.get("score"), Some(&Value::Float(4.5)));
    assert_eq!(contact.get("note"), None);
    let reports = contacts.check().await;
    assert!(reports.iter().all(|r| r.error.is_none()), "{reports:?}");
    contacts.close().await;

    // A DATE column cannot be a field: the error says to cast it.
    let dates = Contacts::open(
        &config(vec![sql(
            &db.url,
            "SELECT since FROM customers WHERE phone = $1",
        )]),
        None,
    )
    .unwrap();
    let lookup = dates.lookup("+33176360695").await;
    assert_eq!(lookup.status, LookupStatus::Failed);
    assert!(lookup.errors[0].contains("cast"), "{:?}", lookup.errors);
    dates.close().await;

    // pg_sleep: the lookup gives up at its timeout.
    let slow = Contacts::open(
        &ContactsConfig {
            timeout: Duration::from_millis(100),
            ..config(vec![sql(
                &db.url,
                "SELECT name, pg_sleep(2)::text AS slept FROM customers WHERE phone = $1",
            )])
        },
        None,
    )
    .unwrap();
    let started = std::time::Instant::now();
    assert_eq!(
        slow.lookup("+33176360695").await.status,
        LookupStatus::Timeout
    );
    assert!(started.elapsed() < Duration::from_millis(500));
    slow.close().await;
    db.drop_db().await;
}

#[ignore = "needs SWITCHBOARD_TEST_MYSQL"]
#[tokio::test]
async fn mariadb_source_types() {
    let db = TestDb::mysql("mariadb_source_types").await;
    let mut conn = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE customers (phone VARCHAR(20) PRIMARY KEY, name VARCHAR(40), vip TINYINT(1), \
           tier INT, calls BIGINT UNSIGNED, score DOUBLE, balance DECIMAL(10,2), note TEXT);
         INSERT INTO customers VALUES ('+33176360695', 'Jeanne', 1, 3, 42, 4.5, 12.50, NULL);",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    let contacts = Contacts::open(
        &config(vec![sql(
            &db.url,
            "SELECT name, vip, tier, calls, score, balance, note FROM customers WHERE phone = ?",
        )]),
        None,
    )
    .unwrap();
    let contact = contacts.lookup("+33176360695").await.contact.unwrap();
    assert_eq!(contact.get("name"), Some(&Value::Text("Jeanne".into())));
    assert_eq!(contact.get("vip"), Some(&Value::Bool(true)));
    assert_eq!(contact.get("tier"), Some(&Value::Int(3)));
    assert_eq!(contact.get("calls"), Some(&Value::Int(42)));
    assert_eq!(contact.get("score"), Some(&Value::Float(4.5)));
    assert_eq!(contact.get("balance"), Some(&Value::Float(12.5)));
    assert_eq!(contact.get("note"), None);
    assert_eq!(
        contacts.lookup("+18005550100").await.status,
        LookupStatus::NotFound
    );
    let reports = contacts.check().await;
    assert_eq!(reports[0].error, None, "{reports:?}");
    contacts.close().await;
    db.drop_db().await;
}
