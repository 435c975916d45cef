//! `POST /aircall/calls`: Aircall's webhooks in, decisions out.
//!
//! In order: body size (413), envelope (400), token (401, constant time),
//! then by event: an inbound `call.created` is deduplicated, decided with
//! ONE snapshot of the rules and handed to the dispatcher (503 only when
//! its queue is full, so Aircall redelivers); `user.*` and other `call.*`
//! events feed the presence book and the directory; anything else is
//! acknowledged with 200 and counted, so Aircall never disables the
//! webhook over an event we do not use.
//!
//! The handler never waits on the Aircall API and never logs the token.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Serialize;

use super::error::HttpError;
use super::sink::rule_label;
use super::AppState;
use crate::aircall::dispatch::Job;
use crate::aircall::presence::PresenceUpdate;
use crate::aircall::webhook::{Envelope, PayloadError};
use crate::config::Mode;
use crate::lang::{Action, Context, Decision};
use crate::metrics::{event_label, WebhookOutcome};

/// The largest webhook body accepted (Aircall's are a few KiB).
pub const MAX_BODY: usize = 1024 * 1024;

/// The acknowledgement body.
#[derive(Debug, Serialize)]
struct Ack<'a> {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    decision: Option<&'a Decision>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revision: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

impl Ack<'static> {
    fn bare(status: &'static str) -> Ack<'static> {
        Ack {
            status,
            decision: None,
            revision: None,
            reason: None,
        }
    }
}

pub(super) async fn receive(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let (event, outcome, response) = handle(&state, body);
    state.metrics().webhook(event, outcome, started.elapsed());
    response
}

/// The event's metric label (`other` when unknown or unreadable), what
/// became of the request, and the answer.
type Handled = (&'static str, WebhookOutcome, Response);

/// The label of a request whose event could not be read.
const NO_EVENT: &str = "other";

fn handle(state: &AppState, body: Result<Bytes, BytesRejection>) -> Handled {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            tracing::warn!(limit = MAX_BODY, "webhook rejected: body too large");
            return reject(
                NO_EVENT,
                WebhookOutcome::TooLarge,
                HttpError::TooLarge { limit: MAX_BODY },
            );
        }
        Err(rejection) => {
            return bad_request(
                NO_EVENT,
                format!("could not read the body: {}", rejection.body_text()),
            );
        }
    };
    let envelope = match Envelope::from_slice(&body) {
        Ok(envelope) => envelope,
        Err(error) => return bad_request(NO_EVENT, payload_message(&error)),
    };
    let event = event_label(&envelope.event);
    if !state.webhook_authorized(envelope.token.as_deref()) {
        tracing::warn!(
            event = envelope.event.as_str(),
            token_present = envelope.token.is_some(),
            "webhook rejected: invalid or missing token"
        );
        return reject(
            event,
            WebhookOutcome::Unauthorized,
            HttpError::Unauthorized {
                message: "invalid or missing webhook token",
                bearer: false,
            },
        );
    }
    match envelope.family() {
        "call" if envelope.event == "call.created" => call_created(state, &envelope, event),
        "call" => {
            if let Err(error) = envelope.call_data() {
                return bad_request(event, payload_message(&error));
            }
            let update = state.presence().apply(&envelope);
            used_or_ignored(event, update)
        }
        "user" => {
            if let Err(error) = envelope.user_data() {
                return bad_request(event, payload_message(&error));
            }
            let update = state.presence().apply(&envelope);
            let directory = state.directory().apply(&envelope);
            if directory {
                tracing::info!(
                    event = envelope.event.as_str(),
                    "directory updated from webhook"
                );
            }
            if directory {
                (event, WebhookOutcome::Applied, ok(&Ack::bare("applied")))
            } else {
                used_or_ignored(event, update)
            }
        }
        _ => {
            tracing::debug!(
                event = envelope.event.as_str(),
                "event not used; acknowledged"
            );
            (event, WebhookOutcome::Ignored, ok(&Ack::bare("ignored")))
        }
    }
}

fn used_or_ignored(event: &'static str, update: PresenceUpdate) -> Handled {
    match update {
        PresenceUpdate::Applied { .. } | PresenceUpdate::Stale { .. } => {
            (event, WebhookOutcome::Applied, ok(&Ack::bare("applied")))
        }
        PresenceUpdate::NotRelevant => (event, WebhookOutcome::Ignored, ok(&Ack::bare("ignored"))),
    }
}

fn call_created(state: &AppState, envelope: &Envelope, event: &'static str) -> Handled {
    let data = match envelope.call_data() {
        Ok(data) => data,
        Err(error) => return bad_request(event, payload_message(&error)),
    };
    let call = envelope.to_call(&data, Utc::now());
    if !call.is_decidable() {
        let ack = Ack {
            reason: Some("only inbound calls are decided by rules"),
            ..Ack::bare("skipped")
        };
        return (event, WebhookOutcome::Skipped, ok(&ack));
    }
    let call_id = data.id;
    if !state.seen().insert(call_id) {
        tracing::info!(call_id, "duplicate call.created ignored");
        return (
            event,
            WebhookOutcome::Duplicate,
            ok(&Ack::bare("duplicate")),
        );
    }
    // One snapshot for the whole decision: a reload landing now does not
    // mix two rule sets in one call.
    let rules = state.rules().current();
    let context = Context {
        contact: None,
        last_agent: None,
        availability: state.presence().as_ref(),
    };
    let outcome = rules.rule_set.evaluate(&call, &context);
    let decision = outcome.decision;
    let revision = rules.revision();
    log_decision(state, call_id, &decision, revision);
    let action = if decision.transfer().is_some() {
        "transfer"
    } else {
        "keep"
    };
    state
        .metrics()
        .decision(rule_label(decision.rule.as_ref()), action);
    let response = ok(&Ack {
        decision: Some(&decision),
        revision: Some(revision),
        ..Ack::bare("decided")
    });
    let job = Job {
        call_id,
        call_started_at: call.instant,
        decision,
        revision: revision.to_owned(),
    };
    match state.dispatcher().try_submit(job) {
        Ok(()) => (event, WebhookOutcome::Decided, response),
        Err(full) => {
            // Not queued: let Aircall's redelivery be decided afresh.
            state.seen().remove(call_id);
            tracing::warn!(call_id, %full, "webhook answered 503: dispatcher cannot take the job");
            reject(
                event,
                WebhookOutcome::QueueFull,
                HttpError::Unavailable(full.to_string()),
            )
        }
    }
}

/// Logs a decision once: call id, rule, actions, revision (and "would" in
/// dry-run).
fn log_decision(state: &AppState, call_id: i64, decision: &Decision, revision: &str) {
    // Arguments are formatted only when the level is enabled.
    if state.mode() == Mode::DryRun && decision.transfer().is_some() {
        tracing::info!(
            call_id,
            rule = rule_label(decision.rule.as_ref()),
            revision,
            mode = "dry-run",
            "decision: would {}",
            describe_actions(&decision.actions)
        );
    } else {
        tracing::info!(
            call_id,
            rule = rule_label(decision.rule.as_ref()),
            revision,
            "decision: {}",
            describe_actions(&decision.actions)
        );
    }
}

/// `transfer to agent alice@example.com (then team "Sales"); tag "vip"`.
pub(crate) fn describe_actions(actions: &[Action]) -> String {
    let mut out = String::new();
    for action in actions {
        if !out.is_empty() {
            out.push_str("; ");
        }
        match action {
            Action::Transfer { to, fallbacks, .. } => {
                out.push_str("transfer to ");
                out.push_str(&to.to_string());
                if !fallbacks.is_empty() {
                    let then: Vec<String> = fallbacks.iter().map(ToString::to_string).collect();
                    out.push_str(" (then ");
                    out.push_str(&then.join(", "));
                    out.push(')');
                }
            }
            Action::Keep { reason } => {
                out.push_str("keep");
                if let Some(reason) = reason {
                    out.push_str(" (");
                    out.push_str(reason);
                    out.push(')');
                }
            }
            Action::Tag { tag } => {
                out.push_str("tag ");
                out.push_str(&format!("{tag:?}"));
            }
            Action::Comment { text } => {
                out.push_str("comment ");
                out.push_str(&format!("{text:?}"));
            }
        }
    }
    if out.is_empty() {
        out.push_str("nothing to do");
    }
    out
}

/// The problem with a body, for the 400 answer and the log. serde quotes
/// the offending value; when that is the token (sent with a wrong type),
/// it is left out.
fn payload_message(error: &PayloadError) -> String {
    let message = error.to_string();
    match message.split_once(": ") {
        Some((_, detail)) if detail.starts_with("token:") => {
            "body is not an Aircall webhook: token: must be a string".to_owned()
        }
        _ => message,
    }
}

fn ok(ack: &Ack<'_>) -> Response {
    (StatusCode::OK, Json(ack)).into_response()
}

fn reject(event: &'static str, outcome: WebhookOutcome, error: HttpError) -> Handled {
    (event, outcome, error.into_response())
}

fn bad_request(event: &'static str, message: String) -> Handled {
    tracing::warn!(
        event,
        problem = message.as_str(),
        "webhook rejected: bad request"
    );
    reject(
        event,
        WebhookOutcome::BadRequest,
        HttpError::BadRequest(message),
    )
}
