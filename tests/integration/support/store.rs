//! Test helpers for the state store and contact sources: a SQLite store in
//! a temporary directory, and uniquely named PostgreSQL / MariaDB
//! databases when `SWITCHBOARD_TEST_POSTGRES` / `SWITCHBOARD_TEST_MYSQL`
//! name a server (the test prints a note and skips that engine otherwise).
//! Every database is dropped by the test that made it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;
use switchboard::store::{StateLocation, Store, StoreConfig};

/// A name no other test (or test run) uses.
pub(crate) fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}_{}_{n}_{nanos}", std::process::id())
}

/// A store config for tests: short waits, a fixed replica name.
pub(crate) fn test_config(replica: &str) -> StoreConfig {
    StoreConfig {
        replica: Some(replica.to_owned()),
        ..StoreConfig::default()
    }
}

/// A SQLite store in `dir`.
pub(crate) async fn sqlite_store(dir: &std::path::Path, config: &StoreConfig) -> Store {
    Store::open(&StateLocation::Sqlite(dir.join("state.db")), config)
        .await
        .unwrap()
}

/// A database created for one test on the server named by an environment
/// variable; [`TestDb::drop_db`] removes it.
#[derive(Debug)]
pub(crate) struct TestDb {
    pub(crate) url: String,
    admin_url: String,
    name: String,
    kind: Kind,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Postgres,
    Mysql,
}

fn replace_db(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |at| at + 3);
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |at| scheme_end + at);
    let mut out = format!("{}/{name}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// The server URL in `variable`. An ignored database test run without it
/// fails with what to set, rather than passing without testing anything.
fn server_url(variable: &str, test: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        panic!("{test} needs a database server: set {variable} (see .ci/run), or leave it ignored")
    })
}

impl TestDb {
    /// A fresh PostgreSQL database on the server `SWITCHBOARD_TEST_POSTGRES`
    /// names. Tests that call it are `#[ignore = "needs SWITCHBOARD_TEST_POSTGRES"]`.
    pub(crate) async fn postgres(test: &str) -> TestDb {
        let admin_url = server_url("SWITCHBOARD_TEST_POSTGRES", test);
        let name = unique_name("sbtest");
        let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        TestDb {
            url: replace_db(&admin_url, &name),
            admin_url,
            name,
            kind: Kind::Postgres,
        }
    }

    /// A fresh MariaDB/MySQL database on the server `SWITCHBOARD_TEST_MYSQL`
    /// names. Tests that call it are `#[ignore = "needs SWITCHBOARD_TEST_MYSQL"]`.
    pub(crate) async fn mysql(test: &str) -> TestDb {
        let admin_url = server_url("SWITCHBOARD_TEST_MYSQL", test);
        let name = unique_name("sbtest");
        let mut conn = sqlx::MySqlConnection::connect(&admin_url).await.unwrap();
        sqlx::raw_sql(&format!("CREATE DATABASE `{name}`"))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        TestDb {
            url: replace_db(&admin_url, &name),
            admin_url,
            name,
            kind: Kind::Mysql,
        }
    }

    pub(crate) fn location(&self) -> StateLocation {
        StateLocation::Postgres(self.url.clone())
    }

    /// Drops the database (connections to it must be closed first;
    /// PostgreSQL's `WITH (FORCE)` ends stragglers).
    pub(crate) async fn drop_db(self) {
        match self.kind {
            Kind::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.admin_url).await.unwrap();
                sqlx::raw_sql(&format!(
                    "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                    self.name
                ))
                .execute(&mut conn)
                .await
                .unwrap();
                conn.close().await.unwrap();
            }
            Kind::Mysql => {
                let mut conn = sqlx::MySqlConnection::connect(&self.admin_url)
                    .await
                    .unwrap();
                sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS `{}`", self.name))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                conn.close().await.unwrap();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            super::replace_db("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            super::replace_db("mysql://root@127.0.0.1:3306/test?ssl-mode=disabled", "y"),
            "mysql://root@127.0.0.1:3306/y?ssl-mode=disabled"
        );
        assert_eq!(super::replace_db("postgres://h", "z"), "postgres://h/z");
    }
}
