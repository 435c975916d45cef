//! Contacts and the decision log through the real server: `contact.FIELD`
//! rules decided from a SQLite database and a CSV file, Aircall's contact
//! search (fake Aircall), a broken source that does not fail the webhook,
//! and reading it all back with `GET /decisions` and `switchboard
//! decisions`.

#![expect(clippy::unwrap_used, reason = "tests")]

use crate::support;
use serde_json::{json, Value};
use sqlx::Connection;
use support::serve::{
    call_created, dry_run_config, eventually, fake_aircall, live_config, transfers, RulesDir,
    Server, ADMIN_TOKEN, WEBHOOK_TOKEN,
};
use switchboard::contacts::config::{CsvSourceConfig, SqlSourceConfig};
use switchboard::contacts::{ContactsConfig, SourceConfig};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

const RULES: &str = r#"
agent alice = "alice@example.com"

rule "account manager"
when contact.agent exists
transfer to agent

rule "VIP"
when contact.vip == true
transfer to alice
"#;

async fn crm(dir: &std::path::Path) -> String {
    let path = dir.join("crm.db");
    let mut conn =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
            .await
            .unwrap();
    sqlx::raw_sql(
        "CREATE TABLE customers (phone TEXT PRIMARY KEY, name TEXT, manager TEXT, vip BOOLEAN);
         INSERT INTO customers VALUES ('+442079460958', 'Managed', 'bob@example.com', 0);",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    format!("sqlite://{}", path.display())
}

async fn get_decisions(server: &Server, query: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = server.http.get(server.url(&format!("/decisions{query}")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn contacts_decide_and_the_log_says_why() {
    let aircall = fake_aircall().await;
    let rules = RulesDir::new(RULES);
    let url = crm(rules.path()).await;
    let csv = rules.path().join("vip.csv");
    std::fs::write(&csv, "phone,vip\n+44 20 7946 0959,true\n").unwrap();
    let mut config = live_config(&rules.file(), &aircall);
    config.contacts = ContactsConfig {
        sources: vec![
            // A source that cannot work comes first: lookups go on to the next.
            SourceConfig::Sql(SqlSourceConfig {
                url: url.clone(),
                query: "SELECT name FROM no_such_table WHERE phone = $1".into(),
                name: Some("broken".into()),
                pool_size: 1,
            }),
            SourceConfig::Sql(SqlSourceConfig {
                url,
                query: "SELECT name, manager AS agent, vip FROM customers WHERE phone = $1".into(),
                name: Some("crm".into()),
                pool_size: 2,
            }),
            SourceConfig::Csv(CsvSourceConfig {
                path: csv,
                phone_column: "phone".into(),
                delimiter: ',',
            }),
        ],
        ..ContactsConfig::default()
    };
    let server = Server::start(&config).await;
    server.wait_ready().await;

    // The CRM names the account manager (bob@example.com is user 102).
    let (status, answer) = server
        .webhook(&call_created(21, "+44 20 7946 0958", Some(WEBHOOK_TOKEN)))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["decision"]["rule"]["name"], "account manager");
    // The CSV says VIP.
    let (_, answer) = server
        .webhook(&call_created(22, "+44 20 7946 0959", Some(WEBHOOK_TOKEN)))
        .await;
    assert_eq!(answer["decision"]["rule"]["name"], "VIP");
    // Nobody knows this one: keep.
    let (status, answer) = server
        .webhook(&call_created(23, "+33 6 12 34 56 78", Some(WEBHOOK_TOKEN)))
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["decision"]["rule"], Value::Null);

    eventually("two transfers", || async {
        transfers(&aircall).await.len() == 2
    })
    .await;
    let sent = transfers(&aircall).await;
    let bodies: Vec<(String, Value)> = sent
        .iter()
        .map(|r| {
            (
                r.url.path().to_owned(),
                serde_json::from_slice(&r.body).unwrap(),
            )
        })
        .collect();
    assert!(bodies.contains(&("/v1/calls/21/transfers".into(), json!({"user_id": 102}))));
    assert!(bodies.contains(&("/v1/calls/22/transfers".into(), json!({"user_id": 101}))));

    // GET /decisions needs the admin token.
    assert_eq!(get_decisions(&server, "", None).await.0, 401);
    eventually("the outcomes to be recorded", || async {
        let (_, log) = get_decisions(&server, "?call=21", Some(ADMIN_TOKEN)).await;
        log[0]["outcomes"].as_array().is_some_and(|o| !o.is_empty())
    })
    .await;
    let (status, log) = get_decisions(&server, "?call=21", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200);
    let entry = &log[0];
    assert_eq!(entry["disposition"], "decided");
    assert_eq!(entry["rule"]["name"], "account manager");
    assert_eq!(entry["rule"]["line"], 4);
    assert!(entry["rule"]["file"]
        .as_str()
        .unwrap()
        .ends_with("main.rules"));
    assert_eq!(entry["caller"], "+442079460958");
    assert_eq!(entry["contact"]["status"], "found");
    let detail = entry["contact"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("sql crm") && detail.contains("sql broken"),
        "{detail}"
    );
    assert_eq!(entry["outcomes"][0]["status"], "sent");
    assert_eq!(entry["outcomes"][0]["action"], "transfer");
    // Filter by caller (any format), and the unknown caller's lookup.
    let (_, log) = get_decisions(&server, "?caller=0033612345678", Some(ADMIN_TOKEN)).await;
    assert_eq!(log.as_array().unwrap().len(), 1);
    assert_eq!(log[0]["contact"]["status"], "failed");
    assert_eq!(
        get_decisions(&server, "?since=ages", Some(ADMIN_TOKEN))
            .await
            .0,
        400
    );
    let metrics = server.get("/status").await.1;
    server.stop().await;
    assert!(!metrics.is_empty());

    // The command line reads the same log.
    let state = rules.path().join(".state.db");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "decisions",
            "--state",
            &state.display().to_string(),
            "--call",
            "22",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(text.contains("call 22"), "{text}");
    assert!(text.contains("decided by rule \"VIP\""), "{text}");
    assert!(text.contains("main.rules:8"), "{text}");
    assert!(text.contains("contact: found (csv"), "{text}");
    assert!(
        text.contains("-> transfer user 101 (alice@example.com): sent"),
        "{text}"
    );
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "decisions",
            "--state",
            &state.display().to_string(),
            "--format",
            "json",
            "--limit",
            "2",
        ])
        .output()
        .unwrap();
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[0]["call_id"], 23);
    // A store that does not exist is an error, not an empty answer.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "decisions",
            "--state",
            &rules.path().join("none.db").display().to_string(),
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no state store"));
}

#[tokio::test]
async fn aircall_contacts_through_the_client_within_the_budget() {
    let aircall = fake_aircall().await;
    Mock::given(method("GET"))
        .and(path("/v1/contacts/search"))
        .and(query_param("phone_number", "+442079460958"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "meta": {"count": 1, "next_page_link": null},
            "contacts": [{"id": 5, "first_name": "Ann", "company_name": "ACME",
                          "phone_numbers": [{"label": "Work", "value": "+44 20 7946 0958"}],
                          "emails": [{"value": "ann@acme.example"}]}]
        })))
        .mount(&aircall)
        .await;
    let rules = RulesDir::new(
        "rule \"ACME\"\nwhen contact.company == \"ACME\"\ntransfer to team \"Sales\"\n",
    );
    let mut config = live_config(&rules.file(), &aircall);
    config.contacts = ContactsConfig {
        sources: vec![SourceConfig::Aircall],
        ..ContactsConfig::default()
    };
    let server = Server::start(&config).await;
    server.wait_ready().await;
    let (_, answer) = server
        .webhook(&call_created(31, "+44 20 7946 0958", Some(WEBHOOK_TOKEN)))
        .await;
    assert_eq!(answer["decision"]["rule"]["name"], "ACME");
    // The same caller again: answered from the cache, no second search.
    let (_, answer) = server
        .webhook(&call_created(32, "+44 20 7946 0958", Some(WEBHOOK_TOKEN)))
        .await;
    assert_eq!(answer["decision"]["rule"]["name"], "ACME");
    let searches = aircall
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/v1/contacts/search")
        .count();
    assert_eq!(searches, 1);
    eventually("two transfers", || async {
        transfers(&aircall).await.len() == 2
    })
    .await;
    server.stop().await;
}

#[tokio::test]
async fn rules_without_contact_fields_never_look_up() {
    let rules = RulesDir::new("when caller starts with \"+44\" transfer to \"+33176360695\"\n");
    let mut config = dry_run_config(&rules.file());
    config.contacts = ContactsConfig {
        sources: vec![SourceConfig::Sql(SqlSourceConfig {
            // Would fail if it were ever asked.
            url: format!("sqlite://{}", rules.path().join("absent.db").display()),
            query: "SELECT 1 WHERE $1 = $1".into(),
            name: None,
            pool_size: 1,
        })],
        ..ContactsConfig::default()
    };
    let server = Server::start(&config).await;
    let (status, _) = server
        .webhook(&call_created(41, "+44 20 7946 0958", None))
        .await;
    assert_eq!(status, 200);
    let (_, log) = get_decisions(&server, "?call=41", Some(ADMIN_TOKEN)).await;
    assert_eq!(log[0]["contact"], Value::Null);
    let stats = server.state.contacts().unwrap().stats();
    assert_eq!(stats.failed + stats.found + stats.not_found, 0);
    server.stop().await;
}
