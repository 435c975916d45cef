//! Shared helpers for the `aircall_*` integration tests: a client aimed at
//! a wiremock server on 127.0.0.1, a sink that collects action records,
//! decision builders and Aircall-shaped list pages.

#![expect(clippy::unwrap_used, reason = "tests")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use switchboard::aircall::client::{AircallClient, ClientConfig, Credentials};
use switchboard::aircall::dispatch::{ActionRecord, OutcomeSink};
use switchboard::aircall::rate_limit::RateLimitConfig;
use switchboard::lang::outcome::{RuleRef, TeamTarget, UserTarget};
use switchboard::lang::{Action, Decision, Span, Target};
use wiremock::MockServer;

/// `Authorization` for the credentials of [`config`].
pub(crate) const BASIC: &str = "Basic YXBpLWlkOmFwaS10b2tlbg==";

/// Settings aimed at `base_url`, with short timeouts and a roomy budget.
pub(crate) fn config(base_url: &str) -> ClientConfig {
    ClientConfig {
        base_url: base_url.to_owned(),
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(2),
        rate_limit: RateLimitConfig::per_minute(6000),
        read_backoff: Duration::from_millis(10),
        ..ClientConfig::new(Credentials::Basic {
            api_id: "api-id".to_owned(),
            api_token: "api-token".to_owned(),
        })
    }
}

pub(crate) fn client(server: &MockServer) -> AircallClient {
    AircallClient::new(config(&server.uri())).unwrap()
}

/// Requests the fake Aircall has received so far.
pub(crate) async fn received(server: &MockServer) -> Vec<wiremock::Request> {
    server.received_requests().await.unwrap()
}

/// An address on 127.0.0.1 where nothing listens (connection refused).
pub(crate) fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// Collects every record; tests wait for a number of them.
#[derive(Debug, Default)]
pub(crate) struct Records {
    records: Mutex<Vec<ActionRecord>>,
}

impl OutcomeSink for Records {
    fn record(&self, record: ActionRecord) {
        self.records.lock().unwrap().push(record);
    }
}

impl Records {
    pub(crate) fn new() -> Arc<Records> {
        Arc::new(Records::default())
    }

    pub(crate) fn all(&self) -> Vec<ActionRecord> {
        self.records.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until at least `count` records arrived.
    pub(crate) async fn wait_for(&self, count: usize) -> Vec<ActionRecord> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let records = self.all();
            if records.len() >= count {
                return records;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "waited for {count} records, got {records:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

pub(crate) fn rule() -> RuleRef {
    RuleRef {
        index: 0,
        name: Some("test rule".into()),
        span: Span::default(),
        line: 1,
    }
}

pub(crate) fn agent(email: &str) -> Target {
    Target::User(UserTarget::Email(email.to_owned()))
}

pub(crate) fn team(name: &str) -> Target {
    Target::Team {
        team: TeamTarget::Name(name.to_owned()),
        ringing: None,
    }
}

pub(crate) fn number(e164: &str) -> Target {
    Target::Number(e164.to_owned())
}

/// A decision to transfer to `to`, then `fallbacks`.
pub(crate) fn transfer(to: Target, fallbacks: Vec<Target>) -> Decision {
    decision(vec![Action::Transfer {
        to,
        fallbacks,
        skipped: Vec::new(),
    }])
}

pub(crate) fn decision(actions: Vec<Action>) -> Decision {
    Decision {
        rule: Some(rule()),
        actions,
        ignored: None,
    }
}

/// One page of an Aircall list: `{"meta": {...}, key: items}`.
pub(crate) fn page(key: &str, items: Value, next: Option<String>) -> Value {
    json!({
        "meta": {
            "count": items.as_array().map_or(0, Vec::len),
            "per_page": 50,
            "next_page_link": next,
            "previous_page_link": null,
        },
        key: items,
    })
}
