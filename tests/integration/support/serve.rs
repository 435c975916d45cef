//! Shared helpers for the `serve_*` and `reload` integration tests: a real
//! server on 127.0.0.1:0, a fake Aircall (wiremock) on 127.0.0.1, rules in
//! a temporary directory, webhook bodies shaped like Aircall's, and
//! polling with a deadline (no long sleeps).

#![expect(clippy::unwrap_used, reason = "tests")]

pub(crate) mod process;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use switchboard::config::{Config, Secret, WatchMode};
use switchboard::server::app::App;
use switchboard::server::AppState;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub(crate) const WEBHOOK_TOKEN: &str = "whk-7c1f0e2a9b";
pub(crate) const ADMIN_TOKEN: &str = "adm-5d2e8c4f1a";
pub(crate) const API_ID: &str = "api-id-3b9d";
pub(crate) const API_TOKEN: &str = "api-tok-8f6a2c";

/// `Authorization` header the fake Aircall must see: Basic of
/// `API_ID:API_TOKEN` (computed once with a base64 tool).
pub(crate) const BASIC_AUTH: &str = "Basic YXBpLWlkLTNiOWQ6YXBpLXRvay04ZjZhMmM=";

/// Rules used by the end-to-end tests: one rule per kind of target.
pub(crate) const RULES: &str = r#"
agent alice = "alice@example.com"
agent ghost = "ghost@example.com"
team sales = "Sales"

rule "to alice"
when caller == "+44 20 7946 0958"
transfer to alice

rule "to sales"
when caller == "+44 20 7946 0959"
transfer to team sales ringing longest_idle

rule "to a number"
when caller == "+44 20 7946 0960"
transfer to "+33176360695"

rule "fallback"
when caller == "+44 20 7946 0961"
transfer to ghost, team sales
"#;

/// A caller no rule matches.
pub(crate) const NOBODY: &str = "+33 6 12 34 56 78";

/// A temporary directory with `main.rules`.
pub(crate) struct RulesDir {
    pub(crate) dir: tempfile::TempDir,
}

impl RulesDir {
    pub(crate) fn new(text: &str) -> RulesDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("main.rules"), text).unwrap();
        RulesDir { dir }
    }

    pub(crate) fn file(&self) -> PathBuf {
        self.dir.path().join("main.rules")
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A dry-run config (no credentials) for `rules`, not watching. The state
/// store is a SQLite file beside the rules (the test's own directory).
pub(crate) fn dry_run_config(rules: &Path) -> Config {
    let dir = if rules.is_dir() {
        rules
    } else {
        rules.parent().unwrap_or(rules)
    };
    Config {
        rules: rules.to_owned(),
        state: switchboard::store::StateLocation::Sqlite(dir.join(".state.db")),
        watch: WatchMode::Off,
        watch_debounce: Duration::from_millis(50),
        poll_interval: Duration::from_millis(100),
        admin_token: Some(Secret::new(ADMIN_TOKEN)),
        ..Config::default()
    }
}

/// A live config pointed at the fake Aircall, with a webhook token.
pub(crate) fn live_config(rules: &Path, aircall: &MockServer) -> Config {
    let mut config = dry_run_config(rules);
    config.aircall.api_id = Some(API_ID.to_owned());
    config.aircall.api_token = Some(Secret::new(API_TOKEN));
    config.aircall.base_url = aircall.uri();
    config.aircall.rate_limit_per_minute = 6000;
    config.aircall.timeouts.connect = Duration::from_secs(2);
    config.aircall.timeouts.request = Duration::from_secs(2);
    config.webhook_tokens = vec![Secret::new(WEBHOOK_TOKEN)];
    config
}

/// A fake Aircall: ping, one page each of users, teams, tags and
/// availabilities, and transfers answered 204.
pub(crate) async fn fake_aircall() -> MockServer {
    let server = MockServer::start().await;
    let page = |key: &str, items: Value| {
        json!({
            "meta": {"count": items.as_array().map_or(0, Vec::len), "per_page": 50,
                     "next_page_link": null, "previous_page_link": null},
            key: items,
        })
    };
    Mock::given(method("GET"))
        .and(path("/v1/ping"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ping": "pong"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/users"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "users",
            json!([
                {"id": 101, "email": "alice@example.com", "name": "Alice", "available": true},
                {"id": 102, "email": "bob@example.com", "name": "Bob", "available": true},
            ]),
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/teams"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(page("teams", json!([{"id": 7, "name": "Sales"}]))),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/tags"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page("tags", json!([]))))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/users/availabilities"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "users",
            json!([
                {"id": 101, "availability": "available"},
                {"id": 102, "availability": "available"},
            ]),
        )))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path_regex(r"^/v1/calls/\d+/transfers$"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    server
}

/// The transfer requests the fake has received, in order.
pub(crate) async fn transfers(aircall: &MockServer) -> Vec<wiremock::Request> {
    aircall
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|request| request.url.path().ends_with("/transfers"))
        .collect()
}

/// A running server.
pub(crate) struct Server {
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    pub(crate) state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// Starts the service for `config` on 127.0.0.1:0.
    pub(crate) async fn start(config: &Config) -> Server {
        let app = App::start(config).await.unwrap();
        Server::run(app).await
    }

    /// Serves an already started app on 127.0.0.1:0.
    pub(crate) async fn run(app: App) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = app.state().clone();
        let (shutdown, stop) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run(listener, async move {
            let _ = stop.await;
        }));
        Server {
            base,
            http: reqwest::Client::new(),
            state,
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Posts a webhook body; returns the status and the JSON answer.
    pub(crate) async fn webhook(&self, body: &Value) -> (u16, Value) {
        self.post_raw("/aircall/calls", body.to_string().into_bytes())
            .await
    }

    pub(crate) async fn post_raw(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, String) {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    pub(crate) async fn get_json(&self, path: &str) -> (u16, Value) {
        let (status, text) = self.get(path).await;
        (status, serde_json::from_str(&text).unwrap())
    }

    /// `POST /admin/...` with an optional bearer token.
    pub(crate) async fn admin(&self, path: &str, token: Option<&str>, body: &str) -> (u16, Value) {
        let mut request = self.http.post(self.url(path)).body(body.to_owned());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Waits until `/readyz` answers 200 (live mode: directory loaded).
    pub(crate) async fn wait_ready(&self) {
        eventually("the server to be ready", || async {
            self.get("/readyz").await.0 == 200
        })
        .await;
    }

    /// Stops the server: no new requests, queued actions finished.
    pub(crate) async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

/// The current UNIX time in seconds.
pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A `call.created` for an inbound call from `caller`, started now.
pub(crate) fn call_created(id: i64, caller: &str, token: Option<&str>) -> Value {
    let mut body = json!({
        "resource": "call",
        "event": "call.created",
        "timestamp": now(),
        "data": {
            "id": id,
            "direct_link": format!("https://api.aircall.io/v1/calls/{id}"),
            "direction": "inbound",
            "status": "initial",
            "started_at": now(),
            "answered_at": null,
            "ended_at": null,
            "duration": 0,
            "raw_digits": caller,
            "number": {"id": 1234, "digits": "+33 1 76 36 06 95", "country": "FR",
                       "time_zone": "Europe/Paris"},
        },
    });
    if let Some(token) = token {
        body["token"] = json!(token);
    }
    body
}

/// Any event with a given data object.
pub(crate) fn event(name: &str, data: Value, token: Option<&str>) -> Value {
    let resource = name.split('.').next().unwrap_or("call");
    let mut body = json!({"resource": resource, "event": name, "timestamp": now(), "data": data});
    if let Some(token) = token {
        body["token"] = json!(token);
    }
    body
}

/// Polls `check` every 20 ms until it holds, failing after 10 s.
pub(crate) async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
