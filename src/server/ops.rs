//! Endpoints for operators and orchestrators: `/healthz`, `/readyz`,
//! `/status` and `/metrics`. They read state; they change nothing.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::AppState;
use crate::aircall::directory::DirectoryStatus;
use crate::config::Mode;
use crate::metrics::{CountsSnapshot, CONTENT_TYPE};
use crate::reload::ReloadRecord;
use crate::store::StoreStats;

/// Alive: the process answers.
pub(super) async fn healthz() -> &'static str {
    "ok\n"
}

#[derive(Debug, Serialize)]
struct Readiness {
    ready: bool,
    /// The rules in service. A server only exists with a valid rule set
    /// (start-up refuses an invalid one and reloads never swap one in), so
    /// "rules loaded" always holds; the revision says which.
    rules_revision: String,
    /// `null` in dry-run, where no directory is needed.
    directory_loaded: Option<bool>,
}

/// Ready: rules are loaded and, in live mode, the Aircall directory too
/// (without it, no e-mail or team name could be resolved).
pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    let directory_loaded = match state.mode() {
        Mode::Live => Some(state.directory().is_loaded()),
        Mode::DryRun => None,
    };
    let ready = directory_loaded != Some(false);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            ready,
            rules_revision: state.rules().current().revision().to_owned(),
            directory_loaded,
        }),
    )
        .into_response()
}

#[derive(Debug, Serialize)]
struct Status {
    mode: Mode,
    /// What the mode means, in words.
    mode_note: &'static str,
    version: &'static str,
    started_at: DateTime<Utc>,
    uptime_seconds: i64,
    rules: RulesStatus,
    last_reload: Option<ReloadRecord>,
    queue: QueueStatus,
    directory: DirectoryStatus,
    presence: PresenceStatus,
    webhook_auth: &'static str,
    counts: CountsSnapshot,
    /// The decision log's group commits (batch sizes, commit times).
    store: StoreStats,
}

#[derive(Debug, Serialize)]
struct RulesStatus {
    path: String,
    revision: String,
    loaded_at: DateTime<Utc>,
    files: Vec<String>,
    rule_count: usize,
    /// The warnings the rules in service were accepted with.
    warnings: Option<String>,
}

#[derive(Debug, Serialize)]
struct QueueStatus {
    depth: usize,
    capacity: usize,
}

#[derive(Debug, Serialize)]
struct PresenceStatus {
    users: usize,
}

/// Everything an operator asks first, in one JSON document.
pub(super) async fn status(State(state): State<AppState>) -> Response {
    let active = state.rules().current_arc();
    let now = Utc::now();
    let status = Status {
        mode: state.mode(),
        mode_note: match state.mode() {
            Mode::DryRun => {
                "dry-run: no Aircall credentials; decisions are logged as \"would transfer\" and nothing is sent"
            }
            Mode::Live => "live: decisions are sent to the Aircall API",
        },
        version: env!("CARGO_PKG_VERSION"),
        started_at: state.started_at(),
        uptime_seconds: (now - state.started_at()).num_seconds(),
        rules: RulesStatus {
            path: state.rules().path().display().to_string(),
            revision: active.revision().to_owned(),
            loaded_at: active.loaded_at,
            files: active.files.clone(),
            rule_count: active.rule_set.rule_count(),
            warnings: active
                .warnings
                .as_ref()
                .map(|warnings| warnings.rendered.clone()),
        },
        last_reload: state.rules().last_reload(),
        queue: QueueStatus {
            depth: state.dispatcher().queue_depth(),
            capacity: state.dispatcher().config().capacity,
        },
        directory: state.directory().status(),
        presence: PresenceStatus {
            users: state.presence().len(),
        },
        webhook_auth: if state.webhook_auth_open() {
            "open (no webhook_tokens configured; dry-run only)"
        } else {
            "token"
        },
        counts: state.metrics().counts().snapshot(),
        store: state.store().stats(),
    };
    Json(status).into_response()
}

/// Prometheus / OpenMetrics text.
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    let directory = state.directory().status();
    state.metrics().set_gauges(
        state.dispatcher().queue_depth(),
        directory.users + directory.teams,
    );
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        state.metrics().encode(),
    )
        .into_response()
}
