//! The Aircall client against a fake Aircall (wiremock on 127.0.0.1):
//! request shapes, authentication, pagination, error mapping.

#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

use crate::support;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use support::aircall::{client, config, page, received, refused_url, BASIC};
use switchboard::aircall::client::{
    AircallClient, ApiError, ApiObserver, Availability, ClientConfig, Credentials, Endpoint,
    RequestOutcome, TransferTarget,
};
use switchboard::lang::ast::Ringing;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn transfer_to_a_user_posts_the_user_id_with_basic_auth() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/calls/780836754/transfers"))
        .and(header("authorization", BASIC))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({ "user_id": 42 })))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    client(&server)
        .transfer(780_836_754, &TransferTarget::User { id: 42 }, None)
        .await
        .unwrap();
    let requests = received(&server).await;
    let agent = requests[0]
        .headers
        .get("user-agent")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(agent.starts_with("switchboard/"), "{agent}");
}

#[tokio::test]
async fn transfer_to_a_team_sends_the_strategy_with_bearer_auth() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/calls/5/transfers"))
        .and(header("authorization", "Bearer oauth-token"))
        .and(body_json(
            json!({ "team_id": 678, "dispatching_strategy": "longest_idle" }),
        ))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let config = ClientConfig {
        credentials: Credentials::Bearer {
            token: "oauth-token".to_owned(),
        },
        ..config(&server.uri())
    };
    let target = TransferTarget::Team {
        id: 678,
        ringing: Some(Ringing::LongestIdle),
    };
    AircallClient::new(config)
        .unwrap()
        .transfer(5, &target, None)
        .await
        .unwrap();
}

#[tokio::test]
async fn transfer_to_a_number_sends_only_the_number() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/calls/6/transfers"))
        .and(body_json(json!({ "number": "+18001231234" })))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let target = TransferTarget::Number {
        e164: "+18001231234".to_owned(),
    };
    client(&server).transfer(6, &target, None).await.unwrap();
}

#[tokio::test]
async fn users_are_read_over_every_page_fifty_at_a_time() {
    let server = MockServer::start().await;
    let user = |id: u64| json!({ "id": id, "email": format!("user{id}@example.com"), "name": "U" });
    // Page 1 links to the real host, as Aircall does: the client must stay
    // on its own base URL (credentials never leave it).
    Mock::given(method("GET"))
        .and(path("/v1/users"))
        .and(query_param("per_page", "50"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "users",
            json!([user(3), user(4)]),
            Some(format!("{}/v1/users?page=3&per_page=50", server.uri())),
        )))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/users"))
        .and(query_param("page", "3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "users",
            json!([user(5)]),
            None,
        )))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/users"))
        .and(query_param("per_page", "50"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "users",
            json!([user(1), user(2)]),
            Some("https://api.aircall.io/v1/users?page=2&per_page=50".to_owned()),
        )))
        .expect(1)
        .mount(&server)
        .await;
    let users = client(&server).list_users().await.unwrap();
    let ids: Vec<u64> = users.iter().map(|user| user.id).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5]);
    assert_eq!(users[4].email.as_deref(), Some("user5@example.com"));
    for request in received(&server).await {
        assert_eq!(request.headers.get("authorization").unwrap(), BASIC);
    }
}

#[tokio::test]
async fn teams_tags_and_availabilities_are_decoded() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/teams"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "teams",
            json!([{ "id": 21, "name": "Sales", "users": [] }]),
            None,
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/tags"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "tags",
            json!([{ "id": 31, "name": "VIP", "color": "#fff" }]),
            None,
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/users/availabilities"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            "users",
            json!([
                { "id": 1, "availability": "available" },
                { "id": 2, "availability": "after_call_work" },
                { "id": 3, "availability": "on_the_moon" },
            ]),
            None,
        )))
        .mount(&server)
        .await;
    let client = client(&server);
    assert_eq!(client.list_teams().await.unwrap()[0].name, "Sales");
    assert_eq!(client.list_tags().await.unwrap()[0].id, 31);
    let rows = client.user_availabilities().await.unwrap();
    assert_eq!(rows[0].availability, Availability::Available);
    assert_eq!(rows[1].availability, Availability::AfterCallWork);
    assert_eq!(
        rows[2].availability,
        Availability::Other("on_the_moon".to_owned())
    );
}

#[tokio::test]
async fn ping_maps_401_and_403_to_clear_errors() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/ping"))
        .and(header("authorization", BASIC))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "ping": "pong" })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/ping"))
        .and(header("authorization", "Bearer missing"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({ "error": "Invalid access token", "troubleshoot": "Check the token" }),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/ping"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({ "message": "Forbidden" })))
        .mount(&server)
        .await;
    client(&server).ping().await.unwrap();
    let with = |credentials| {
        AircallClient::new(ClientConfig {
            credentials,
            ..config(&server.uri())
        })
        .unwrap()
    };
    let bad_key = with(Credentials::Basic {
        api_id: "api-id".to_owned(),
        api_token: "wrong".to_owned(),
    });
    let err = bad_key.ping().await.unwrap_err();
    assert_eq!(err, ApiError::Forbidden);
    assert!(err.to_string().contains("not valid"), "{err}");
    let err = with(Credentials::Bearer {
        token: "missing".to_owned(),
    })
    .ping()
    .await
    .unwrap_err();
    assert!(matches!(err, ApiError::Unauthorized { .. }), "{err:?}");
    // What Aircall said, not a guess that no credentials were sent.
    let message = err.to_string();
    assert!(
        message.contains("401 Unauthorized") && message.contains("Invalid access token"),
        "{message}"
    );
    assert!(!message.contains("no credentials"), "{message}");
    // Auth failures are not retried: one request each.
    assert_eq!(received(&server).await.len(), 3);
}

#[tokio::test]
async fn a_path_prefix_in_the_base_url_is_kept() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/proxy/aircall/v1/ping"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "ping": "pong" })))
        .expect(1)
        .mount(&server)
        .await;
    let client = AircallClient::new(config(&format!("{}/proxy/aircall", server.uri()))).unwrap();
    client.ping().await.unwrap();
}

#[tokio::test]
async fn reads_are_retried_after_a_server_error_but_not_forever() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/teams"))
        .respond_with(ResponseTemplate::new(502).set_body_string("bad gateway"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/teams"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page("teams", json!([]), None)))
        .mount(&server)
        .await;
    assert!(client(&server).list_teams().await.unwrap().is_empty());
    assert_eq!(received(&server).await.len(), 2);

    let failing = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500).set_body_string("x".repeat(5000)))
        .mount(&failing)
        .await;
    let err = client(&failing).list_tags().await.unwrap_err();
    let ApiError::Status { code, body } = &err else {
        panic!("expected a status error, got {err:?}");
    };
    assert_eq!(*code, 500);
    assert!(body.len() < 600, "body kept whole: {} bytes", body.len());
    assert_eq!(received(&failing).await.len(), 3);
}

#[tokio::test]
async fn a_malformed_page_is_a_decode_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/users"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "users": [{ "id": "x" }] })))
        .mount(&server)
        .await;
    let err = client(&server).list_users().await.unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Decode {
                endpoint: Endpoint::Users,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let client = AircallClient::new(config(&refused_url())).unwrap();
    let err = client
        .transfer(1, &TransferTarget::User { id: 1 }, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::Transport { connect: true, .. }),
        "{err:?}"
    );
    assert!(err.surely_not_applied());
}

#[tokio::test]
async fn a_slow_answer_is_a_timeout_whose_outcome_is_unknown() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204).set_delay(Duration::from_secs(3)))
        .mount(&server)
        .await;
    let client = AircallClient::new(ClientConfig {
        request_timeout: Duration::from_millis(200),
        ..config(&server.uri())
    })
    .unwrap();
    let err = client
        .transfer(1, &TransferTarget::User { id: 1 }, None)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Timeout(_)), "{err:?}");
    assert!(err.outcome_unknown());
    assert!(!err.surely_not_applied());
}

#[derive(Default)]
struct Seen(Mutex<Vec<(Endpoint, RequestOutcome)>>);

impl ApiObserver for Seen {
    fn observe(&self, endpoint: Endpoint, outcome: RequestOutcome, _latency: Duration) {
        self.0.lock().unwrap().push((endpoint, outcome));
    }
}

#[tokio::test]
async fn every_exchange_is_observed_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/calls/1/transfers"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/calls/2/comments"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "Maximum of 5 notes can be added to a Call."
        })))
        .mount(&server)
        .await;
    let seen = Arc::new(Seen::default());
    let client = client(&server).with_observer(seen.clone());
    client
        .transfer(1, &TransferTarget::User { id: 1 }, None)
        .await
        .unwrap();
    let err = client.comment_call(2, "hello", None).await.unwrap_err();
    assert!(err.to_string().contains("Maximum of 5 notes"), "{err}");
    let refused = AircallClient::new(config(&refused_url()))
        .unwrap()
        .with_observer(seen.clone());
    refused.ping().await.unwrap_err();
    let seen = seen.0.lock().unwrap().clone();
    assert_eq!(seen[0], (Endpoint::Transfer, RequestOutcome::Status(204)));
    assert_eq!(
        seen[1],
        (Endpoint::CommentCall, RequestOutcome::Status(400))
    );
    // The ping is a read: three attempts, each observed.
    assert_eq!(&seen[2..], [(Endpoint::Ping, RequestOutcome::Connect); 3]);
}

#[test]
fn credentials_never_show_in_debug_output() {
    let config = ClientConfig::new(Credentials::Basic {
        api_id: "my-id".to_owned(),
        api_token: "super-secret".to_owned(),
    });
    let shown = format!("{config:?}");
    assert!(
        !shown.contains("super-secret") && !shown.contains("my-id"),
        "{shown}"
    );
    let client = AircallClient::new(config).unwrap();
    assert!(!format!("{client:?}").contains("super-secret"));
}

#[test]
fn a_base_url_that_is_not_http_is_refused() {
    let err = AircallClient::new(config("ftp://example.com")).unwrap_err();
    assert!(err.to_string().contains("http"), "{err}");
    assert!(AircallClient::new(config("not a url")).is_err());
}
