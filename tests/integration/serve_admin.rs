//! `POST /admin/reload` and `POST /admin/check`: bearer token, outcomes,
//! diagnostics; and reloads racing webhooks.

#![expect(clippy::unwrap_used, reason = "tests")]

use crate::support;
use std::collections::HashSet;

use serde_json::Value;
use support::serve::*;

const INVALID: &str = "rule \"broken\"\nwhen caller.contry == \"FR\"\nkeep\n";

#[tokio::test]
async fn reload_needs_the_admin_token() {
    let rules = RulesDir::new(RULES);
    let server = Server::start(&dry_run_config(&rules.file())).await;

    let response = server
        .http
        .post(server.url("/admin/reload"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert!(response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let (status, _) = server.admin("/admin/reload", Some("wrong"), "").await;
    assert_eq!(status, 401);
    // A Basic header with the right secret is still not a bearer token.
    let response = server
        .http
        .post(server.url("/admin/reload"))
        .basic_auth(ADMIN_TOKEN, None::<&str>)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert!(
        server.state.rules().last_reload().is_none(),
        "a refused request reloaded"
    );

    let (status, answer) = server.admin("/admin/reload", Some(ADMIN_TOKEN), "").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["outcome"], "unchanged");
    server.stop().await;
}

#[tokio::test]
async fn reload_reports_applied_and_rejected() {
    let rules = RulesDir::new(RULES);
    let server = Server::start(&dry_run_config(&rules.file())).await;
    let first = server.state.rules().current().revision().to_owned();

    std::fs::write(rules.file(), INVALID).unwrap();
    let (status, answer) = server.admin("/admin/reload", Some(ADMIN_TOKEN), "").await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["outcome"], "rejected");
    assert_eq!(answer["revision"], first.as_str());
    assert_eq!(answer["reason"], "1 error");
    let rendered = answer["report"]["rendered"].as_str().unwrap();
    assert!(rendered.starts_with("error[unknown-subject]"), "{rendered}");
    assert!(rendered.contains("when caller.contry"), "{rendered}");
    let (_, status) = server.get_json("/status").await;
    assert_eq!(status["last_reload"]["outcome"], "rejected");
    assert_eq!(status["last_reload"]["trigger"], "admin");

    std::fs::write(rules.file(), RULES.replace("\"to alice\"", "\"alice\"")).unwrap();
    let (status, answer) = server.admin("/admin/reload", Some(ADMIN_TOKEN), "").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["outcome"], "applied");
    assert_eq!(answer["previous"], first.as_str());
    assert_ne!(answer["revision"], first.as_str());
    assert_eq!(
        answer["revision"],
        server.state.rules().current().revision()
    );
    server.stop().await;
}

#[tokio::test]
async fn admin_is_off_without_an_admin_token() {
    let rules = RulesDir::new(RULES);
    let mut config = dry_run_config(&rules.file());
    config.admin_token = None;
    let server = Server::start(&config).await;
    let (status, answer) = server.admin("/admin/reload", Some(ADMIN_TOKEN), "").await;
    assert_eq!(status, 403);
    assert!(answer["error"].as_str().unwrap().contains("admin_token"));
    let (status, _) = server.admin("/admin/check", Some(ADMIN_TOKEN), RULES).await;
    assert_eq!(status, 403);
    server.stop().await;
}

#[tokio::test]
async fn check_validates_without_activating() {
    let rules = RulesDir::new(RULES);
    let server = Server::start(&dry_run_config(&rules.file())).await;
    let running = server.state.rules().current().revision().to_owned();

    let (status, _) = server.admin("/admin/check", None, RULES).await;
    assert_eq!(status, 401);

    let other = RULES.replace("\"to alice\"", "\"alice\"");
    let (status, answer) = server
        .admin("/admin/check", Some(ADMIN_TOKEN), &other)
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["valid"], true);
    assert_eq!(answer["errors"], 0);
    assert_ne!(answer["revision"], running.as_str());

    let (status, answer) = server
        .admin("/admin/check?name=draft.rules", Some(ADMIN_TOKEN), INVALID)
        .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["valid"], false);
    assert_eq!(answer["errors"], 1);
    assert_eq!(answer["revision"], Value::Null);
    let rendered = answer["report"]["rendered"].as_str().unwrap();
    assert!(rendered.contains("--> draft.rules:2:6"), "{rendered}");
    assert_eq!(answer["report"]["files"][0]["path"], "draft.rules");
    assert_eq!(answer["report"]["files"][0]["diagnostics"][0]["line"], 2);

    let response = server
        .http
        .post(server.url("/admin/check"))
        .bearer_auth(ADMIN_TOKEN)
        .body(vec![0xff, 0xfe, b'x'])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);

    // Nothing was activated, nothing was recorded as a reload.
    assert_eq!(server.state.rules().current().revision(), running);
    assert!(server.state.rules().last_reload().is_none());
    server.stop().await;
}

/// Valid and invalid reloads alternate while webhooks keep coming: no
/// request fails and every decision comes from a valid rule set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_under_load_never_fail_a_request_nor_use_invalid_rules() {
    let rules = RulesDir::new(RULES);
    let server = Server::start(&dry_run_config(&rules.file())).await;
    let mut valid = HashSet::from([server.state.rules().current().revision().to_owned()]);

    let senders: Vec<_> = (0..4)
        .map(|sender| {
            let http = server.http.clone();
            let url = server.url("/aircall/calls");
            tokio::spawn(async move {
                let mut answers = Vec::new();
                for n in 0..150 {
                    let id = 100_000 * (sender + 1) + n;
                    let body = call_created(id, "+44 20 7946 0958", None).to_string();
                    let response = http.post(&url).body(body).send().await.unwrap();
                    let status = response.status().as_u16();
                    let answer: Value = response.json().await.unwrap();
                    answers.push((status, answer));
                }
                answers
            })
        })
        .collect();

    for round in 0..20 {
        let text = if round % 2 == 0 {
            INVALID.to_owned()
        } else {
            RULES.replace("\"to alice\"", &format!("\"alice {round}\""))
        };
        std::fs::write(rules.file(), text).unwrap();
        let (status, answer) = server.admin("/admin/reload", Some(ADMIN_TOKEN), "").await;
        if round % 2 == 0 {
            assert_eq!(
                (status, answer["outcome"].as_str()),
                (422, Some("rejected"))
            );
        } else {
            assert_eq!((status, answer["outcome"].as_str()), (200, Some("applied")));
            valid.insert(answer["revision"].as_str().unwrap().to_owned());
        }
    }

    let mut decided = 0;
    for sender in senders {
        for (status, answer) in sender.await.unwrap() {
            assert_eq!(status, 200, "{answer}");
            assert_eq!(answer["status"], "decided", "{answer}");
            let revision = answer["revision"].as_str().unwrap();
            assert!(
                valid.contains(revision),
                "decided by unknown revision {revision}"
            );
            decided += 1;
        }
    }
    assert_eq!(decided, 600);
    server.stop().await;
}
