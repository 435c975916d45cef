//! `POST /aircall/calls`: Aircall's webhooks in, decisions out.
//!
//! In order: body size (413) and time (408), envelope (400), token (401,
//! constant time), then by event: an inbound `call.created` is
//! deduplicated, decided with ONE snapshot of the rules (with the
//! caller's contact and last agent when the rules read them), claimed in
//! the store and handed to the dispatcher (503 only when its queue is
//! full, so Aircall redelivers);
//! `user.*` and other `call.*` events feed the presence book, the
//! directory and the call history; anything else is acknowledged with
//! 200 and counted, so Aircall never disables the webhook over an event
//! we do not use. Every webhook is recorded in the state store before it
//! is acknowledged; one that cannot be recorded is answered 503.
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

use super::body_deadline;
use super::error::HttpError;
use super::sink::rule_label;
use super::AppState;
use crate::aircall::dispatch::Job;
use crate::aircall::presence::PresenceUpdate;
use crate::aircall::webhook::{Envelope, PayloadError};
use crate::config::Mode;
use crate::contacts::{Lookup, LookupStatus};
use crate::lang::{Action, Context, Decision};
use crate::metrics::{event_label, WebhookOutcome};
use crate::store::record::{actions_to_carry_out, ClaimRequest};
use crate::store::{history, Disposition, RuleLabel, StoreError, WebhookRecord};

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
    let (event, outcome, response) = handle(&state, body).await;
    state.metrics().webhook(event, outcome, started.elapsed());
    response
}

/// The event's metric label (`other` when unknown or unreadable), what
/// became of the request, and the answer.
type Handled = (&'static str, WebhookOutcome, Response);

/// The label of a request whose event could not be read.
const NO_EVENT: &str = "other";

async fn handle(state: &AppState, body: Result<Bytes, BytesRejection>) -> Handled {
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
            if let Some(timeout) = body_deadline::timed_out(&rejection) {
                tracing::warn!(%timeout, "webhook rejected: body too slow");
                return reject(
                    NO_EVENT,
                    WebhookOutcome::BodyTimeout,
                    HttpError::BodyTimeout(timeout),
                );
            }
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
    let received_at = Utc::now();
    // Every acknowledged webhook is recorded before it is acknowledged.
    let mut record = WebhookRecord::new(received_at, &envelope.event, Disposition::Ignored);
    match envelope.family() {
        "call" if envelope.event == "call.created" => {
            call_created(state, &envelope, event, record).await
        }
        "call" => {
            let data = match envelope.call_data() {
                Ok(data) => data,
                Err(error) => return bad_request(event, payload_message(&error)),
            };
            let update = state.presence().apply(&envelope);
            record.call_id = Some(data.id);
            record.history = history::entry_from(&envelope, &data, received_at);
            let used = record.history.is_some() || presence_used(&update);
            if let Some(entry) = &record.history {
                tracing::debug!(
                    call_id = entry.call_id,
                    agent_id = entry.agent_id,
                    "call history: answered call recorded"
                );
            }
            commit_used(state, record, event, used).await
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
            commit_used(state, record, event, directory || presence_used(&update)).await
        }
        _ => {
            tracing::debug!(
                event = envelope.event.as_str(),
                "event not used; acknowledged"
            );
            commit_used(state, record, event, false).await
        }
    }
}

fn presence_used(update: &PresenceUpdate) -> bool {
    matches!(
        update,
        PresenceUpdate::Applied { .. } | PresenceUpdate::Stale { .. }
    )
}

/// Records an event used for something other than deciding (or not used
/// at all), then acknowledges it.
async fn commit_used(
    state: &AppState,
    mut record: WebhookRecord,
    event: &'static str,
    used: bool,
) -> Handled {
    let (disposition, outcome, status) = if used {
        (Disposition::Applied, WebhookOutcome::Applied, "applied")
    } else {
        (Disposition::Ignored, WebhookOutcome::Ignored, "ignored")
    };
    record.disposition = disposition;
    match state.store().record(record).await {
        Ok(_) => (event, outcome, ok(&Ack::bare(status))),
        Err(error) => not_recorded(event, &error),
    }
}

/// 503: the webhook could not be recorded, so it is not acknowledged and
/// Aircall delivers it again.
fn not_recorded(event: &'static str, error: &StoreError) -> Handled {
    tracing::error!(%error, "webhook answered 503: it could not be recorded");
    reject(
        event,
        WebhookOutcome::NotRecorded,
        HttpError::Unavailable("the decision log cannot be written right now".to_owned()),
    )
}

async fn call_created(
    state: &AppState,
    envelope: &Envelope,
    event: &'static str,
    mut record: WebhookRecord,
) -> Handled {
    let data = match envelope.call_data() {
        Ok(data) => data,
        Err(error) => return bad_request(event, payload_message(&error)),
    };
    let call = envelope.to_call(&data, record.received_at);
    let call_id = data.id;
    record.call_id = Some(call_id);
    record.caller = call.caller.as_ref().map(|caller| caller.e164.clone());
    record.number = call
        .number_e164
        .clone()
        .or_else(|| call.number_id.map(|id| format!("id {id}")));
    record.call_started_at = Some(call.instant);
    if !call.is_decidable() {
        record.disposition = Disposition::Skipped;
        let ack = Ack {
            reason: Some("only inbound calls are decided by rules"),
            ..Ack::bare("skipped")
        };
        return match state.store().record(record).await {
            Ok(_) => (event, WebhookOutcome::Skipped, ok(&ack)),
            Err(error) => not_recorded(event, &error),
        };
    }
    if !state.seen().insert(call_id) {
        tracing::info!(call_id, "duplicate call.created ignored");
        record.disposition = Disposition::Duplicate;
        return match state.store().record(record).await {
            Ok(_) => (
                event,
                WebhookOutcome::Duplicate,
                ok(&Ack::bare("duplicate")),
            ),
            Err(error) => not_recorded(event, &error),
        };
    }
    let deciding = Instant::now();
    // One snapshot for the whole decision: a reload landing now does not
    // mix two rule sets in one call. Owned, as lookups are awaited.
    let rules = state.rules().current_arc();
    let rule_set = &rules.rule_set;
    // Outside facts, only when the rules read them; a lookup that fails
    // or times out leaves them missing and is recorded.
    let lookup = match (rule_set.uses_contact(), state.contacts(), &call.caller) {
        (true, Some(contacts), Some(caller)) => contacts.lookup(&caller.e164).await,
        _ => Lookup::skipped(),
    };
    let last_agent = match (rule_set.uses_last_agent(), &call.caller) {
        (true, Some(caller)) => match state
            .store()
            .last_agent(&caller.e164, record.received_at)
            .await
        {
            Ok(agent) => agent,
            Err(error) => {
                tracing::warn!(call_id, %error, "last agent unknown: the call history could not be read");
                None
            }
        },
        _ => None,
    };
    let decision = {
        // The context borrows the presence book as a plain `&dyn`: keep it
        // out of the awaits below.
        let context = Context {
            contact: lookup.contact.as_deref(),
            last_agent: last_agent.as_ref(),
            availability: state.presence().as_ref(),
        };
        rule_set.evaluate(&call, &context).decision
    };
    let revision = rules.revision();
    record.disposition = Disposition::Decided;
    record.revision = Some(revision.to_owned());
    record.rule = decision.rule.as_ref().map(|rule| RuleLabel {
        name: rule.name.as_deref().map(str::to_owned),
        file: Some(rule_set.sources().file_name(rule.span.file).to_owned()),
        line: rule.line,
    });
    record.actions = serde_json::to_value(&decision.actions).ok();
    if lookup.status != LookupStatus::Skipped {
        record.contact = Some(lookup.to_record());
    }
    record.decide_time = Some(deciding.elapsed());
    record.claim = Some(ClaimRequest {
        call_started_at: call.instant,
        deadline: state.dispatcher().config().deadline,
        action_count: actions_to_carry_out(&decision.actions),
    });
    // Durable (and claimed) before anything is acknowledged or sent.
    let committed = match state.store().record(record).await {
        Ok(committed) => committed,
        Err(error) => {
            state.seen().remove(call_id);
            return not_recorded(event, &error);
        }
    };
    if committed.claimed == Some(false) {
        tracing::info!(
            call_id,
            "duplicate call.created: the call is already claimed (by an earlier delivery or another replica)"
        );
        return (
            event,
            WebhookOutcome::Duplicate,
            ok(&Ack::bare("duplicate")),
        );
    }
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
            // Not queued: let Aircall's redelivery be decided afresh, here
            // or on another replica.
            state.seen().remove(call_id);
            if let Err(error) = state.store().release_claim(call_id).await {
                tracing::error!(call_id, %error, "could not release the claim of a call answered 503");
            }
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
