//! `switchboard check --config` checks the contact sources: each SQL
//! source connects and its query prepares (with exactly one parameter),
//! and a field the rules read that no source returns is a warning.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::process::Command;

use sqlx::Connection;

fn check(config: &std::path::Path, extra: &[&str]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["check", "--config", &config.display().to_string()])
        .args(extra)
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn contact_sources_are_checked_with_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crm.db");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", db.display()))
        .await
        .unwrap();
    sqlx::raw_sql("CREATE TABLE customers (phone TEXT PRIMARY KEY, name TEXT, vip BOOLEAN);")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    std::fs::write(
        dir.path().join("main.rules"),
        "rule \"VIP\"\nwhen contact.vip == true and contact.tier == 1\ntransfer to \"+33176360695\"\n",
    )
    .unwrap();
    let config = dir.path().join("switchboard.yaml");
    let write = |query: &str| {
        std::fs::write(
            &config,
            format!(
                "rules: main.rules\nstate: state.db\ncontacts:\n  sources:\n    - sql:\n        \
                 url: sqlite://crm.db\n        query: \"{query}\"\n"
            ),
        )
        .unwrap();
    };

    // Works, but `tier` comes from nowhere: a warning (fatal when denied).
    write("SELECT name, vip FROM customers WHERE phone = $1");
    let (code, stderr) = check(&config, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("warning: the rules read `contact.tier`"),
        "{stderr}"
    );
    assert!(!stderr.contains("contact.vip"), "{stderr}");
    assert_eq!(check(&config, &["--deny-warnings"]).0, 1);

    // A query that does not prepare, and one with two parameters.
    write("SELECT name, vip, tier FROM clients WHERE phone = $1");
    let (code, stderr) = check(&config, &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("error: contact source sql #1") && stderr.contains("clients"),
        "{stderr}"
    );
    write("SELECT name, vip FROM customers WHERE phone = $1 OR name = $2");
    let (code, stderr) = check(&config, &[]);
    assert_eq!(code, 1);
    assert!(stderr.contains("exactly one"), "{stderr}");

    // A database that is not there.
    std::fs::remove_file(&db).unwrap();
    write("SELECT name, vip FROM customers WHERE phone = $1");
    let (code, stderr) = check(&config, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("error: contact source sql #1"), "{stderr}");
}
