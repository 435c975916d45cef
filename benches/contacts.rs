//! What a contact lookup adds to a decision (issue 4 §4): a `sql` source
//! of 1,000,000 contacts, SQLite on local disk (target: p99 under 1 ms)
//! and PostgreSQL on loopback (target: p99 under 3 ms).
//!
//! Lookups go through [`Contacts::lookup`], the server's own path (E.164
//! parameter, pool, timeout, row decoding), each for a caller not looked
//! up before so that the cache never answers. A tenth of the callers are
//! unknown. Latencies are reported as percentiles, which criterion's
//! summaries do not give, so this bench has its own `main`.
//!
//! ```text
//! cargo bench --bench contacts                      # SQLite
//! SWITCHBOARD_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/postgres \
//!     cargo bench --bench contacts                  # and PostgreSQL
//! ```
//!
//! `CONTACTS` (default 1,000,000) and `LOOKUPS` (default 20,000) change the
//! sizes.
#![expect(clippy::unwrap_used, clippy::panic, reason = "benchmark set-up")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard::contacts::config::{ContactsConfig, SourceConfig, SqlSourceConfig};
use switchboard::contacts::{Contacts, LookupStatus};

/// Contact `i`'s phone number: `+336` and eight digits.
fn phone(i: u64) -> String {
    format!("+336{:08}", i)
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would pass
    // nothing and expect a quick run.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let contacts = env_number("CONTACTS", 1_000_000);
    let lookups = env_number("LOOKUPS", 20_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crm.db");
        let url = format!("sqlite://{}", path.display());
        let started = Instant::now();
        fill_sqlite(&url, contacts).await;
        println!(
            "sqlite: {contacts} contacts written in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        measure("sqlite", &url, "customers", contacts, lookups).await;

        if let Ok(server) = std::env::var("SWITCHBOARD_TEST_POSTGRES") {
            let table = format!("bench_contacts_{}", std::process::id());
            let started = Instant::now();
            fill_postgres(&server, &table, contacts).await;
            println!(
                "postgres: {contacts} contacts written in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            measure("postgres", &server, &table, contacts, lookups).await;
            let pool = sqlx::PgPool::connect(&server).await.unwrap();
            sqlx::query(&format!("DROP TABLE {table}"))
                .execute(&pool)
                .await
                .unwrap();
        } else {
            println!("postgres: skipped (set SWITCHBOARD_TEST_POSTGRES to measure it)");
        }
    });
}

async fn fill_sqlite(url: &str, contacts: u64) {
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
    use std::str::FromStr;
    let options = SqliteConnectOptions::from_str(url)
        .unwrap()
        .create_if_missing(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .unwrap();
    sqlx::query(
        "CREATE TABLE customers (phone TEXT PRIMARY KEY, name TEXT NOT NULL, \
         account_manager TEXT, vip INTEGER NOT NULL, language TEXT)",
    )
    .execute(&pool)
    .await
    .unwrap();
    // One statement generates every row: the point is the lookup, not the load.
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < $1) \
         INSERT INTO customers \
         SELECT printf('+336%08d', i), 'Customer ' || i, 'agent' || (i % 50) || '@example.com', \
                i % 7 = 0, CASE i % 3 WHEN 0 THEN 'es' ELSE 'en' END FROM n",
    )
    .bind(i64::try_from(contacts).unwrap())
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
}

async fn fill_postgres(server: &str, table: &str, contacts: u64) {
    let pool = sqlx::PgPool::connect(server).await.unwrap();
    sqlx::query(&format!(
        "CREATE TABLE {table} (phone TEXT PRIMARY KEY, name TEXT NOT NULL, \
         account_manager TEXT, vip BOOLEAN NOT NULL, language TEXT)"
    ))
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(&format!(
        "INSERT INTO {table} \
         SELECT '+336' || lpad(i::text, 8, '0'), 'Customer ' || i, \
                'agent' || (i % 50) || '@example.com', i % 7 = 0, \
                CASE i % 3 WHEN 0 THEN 'es' ELSE 'en' END \
         FROM generate_series(0, $1 - 1) AS i"
    ))
    .bind(i64::try_from(contacts).unwrap())
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(&format!("ANALYZE {table}"))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

/// Looks up callers in `table` of the database at `url`, and prints the
/// latencies.
async fn measure(engine: &str, url: &str, table: &str, contacts: u64, lookups: u64) {
    let config = ContactsConfig {
        sources: vec![SourceConfig::Sql(SqlSourceConfig {
            url: url.to_owned(),
            query: format!(
                "SELECT name, account_manager AS agent, vip, language FROM {table} WHERE phone = $1"
            ),
            name: None,
            pool_size: 4,
        })],
        ..ContactsConfig::default()
    };
    let sources = Arc::new(Contacts::open(&config, None).unwrap());
    // Callers in a scattered order, each asked once; one in ten unknown
    // (numbers past the last contact).
    let caller = |n: u64| {
        let spread = n.wrapping_mul(2_654_435_761) % contacts;
        if n % 10 == 9 {
            phone(contacts + spread)
        } else {
            phone(spread)
        }
    };
    // Warm-up: connections opened, statement prepared, pages cached.
    for n in 0..1_000 {
        sources.lookup(&caller(lookups + n)).await;
    }

    // One lookup at a time: what a lookup adds to one decision.
    let mut latencies = Vec::with_capacity(usize::try_from(lookups).unwrap());
    let mut found = 0;
    for n in 0..lookups {
        let started = Instant::now();
        let lookup = sources.lookup(&caller(n)).await;
        latencies.push(started.elapsed());
        assert!(!lookup.cached, "every caller is asked once");
        match lookup.status {
            LookupStatus::Found { .. } => found += 1,
            LookupStatus::NotFound => {}
            other => panic!("{engine}: lookup {n} ended {other:?}: {:?}", lookup.errors),
        }
    }
    assert_eq!(
        found,
        lookups - lookups / 10,
        "nine callers in ten are known"
    );
    report(&format!("{engine}, one at a time"), &mut latencies);

    // Sixteen decisions at once, as under load.
    let started = Instant::now();
    let tasks: Vec<_> = (0..16)
        .map(|task| {
            let sources = Arc::clone(&sources);
            let callers: Vec<String> = (0..lookups / 16)
                .map(|n| caller(2 * lookups + n * 16 + task))
                .collect();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(callers.len());
                for caller in callers {
                    let started = Instant::now();
                    let lookup = sources.lookup(&caller).await;
                    latencies.push(started.elapsed());
                    assert!(
                        matches!(
                            lookup.status,
                            LookupStatus::Found { .. } | LookupStatus::NotFound
                        ),
                        "{:?}",
                        lookup.errors
                    );
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
    report(
        &format!("{engine}, 16 at once ({rate:.0} lookups/s)"),
        &mut latencies,
    );
}

fn report(what: &str, latencies: &mut [Duration]) {
    latencies.sort_unstable();
    let at = |fraction: f64| {
        let index = ((latencies.len() as f64 * fraction) as usize).min(latencies.len() - 1);
        latencies[index].as_secs_f64() * 1e6
    };
    println!(
        "{what}: {} lookups, p50 {:.0} µs, p99 {:.0} µs, p99.9 {:.0} µs, max {:.0} µs",
        latencies.len(),
        at(0.50),
        at(0.99),
        at(0.999),
        at(1.0)
    );
}
