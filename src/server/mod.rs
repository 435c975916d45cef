//! The HTTP service of `switchboard serve`.
//!
//! [`router`] builds the axum app from an [`AppState`] (tests drive it on a
//! real socket through [`serve`]); [`app::App`] assembles the state from a
//! [`crate::config::Config`]. Routes:
//!
//! | Route | What |
//! | --- | --- |
//! | `POST /aircall/calls` | Aircall webhooks ([`webhook`]) |
//! | `GET /healthz`, `/readyz`, `/status`, `/metrics` | operations ([`ops`]) |
//! | `POST /admin/reload`, `/admin/check` | admin, bearer token ([`admin`]) |
//! | `GET /decisions` | the decision log, admin bearer token ([`decisions`]) |
//!
//! The server decides with the rules and hands actions to the dispatcher:
//! actions (transfers, tags, comments) never call the Aircall API on a
//! request's path. One lookup may: with the `aircall` contact source
//! configured, the handler waits for Aircall's contact search, bounded by
//! `contacts.timeout` (and answered from its cache when it can); without
//! it, acknowledging a webhook does not depend on Aircall at all.
//!
//! [`connections`] accepts and serves the connections within the bounds
//! of the `server:` table: a cap on open connections, header, body and
//! idle deadlines ([`watchdog`], [`body_deadline`]); [`open_files`]
//! raises the open-files limit the cap's default is derived from.

pub mod admin;
pub mod app;
pub mod auth;
pub mod body_deadline;
pub mod connections;
pub mod decisions;
pub mod dedupe;
pub mod error;
pub mod open_files;
pub mod ops;
pub mod sink;
pub mod watchdog;
pub mod webhook;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, Utc};
use tokio::net::TcpListener;

use crate::aircall::directory::Directory;
use crate::aircall::dispatch::Dispatcher;
use crate::aircall::presence::PresenceBook;
use crate::config::{Mode, Secret};
use crate::contacts::Contacts;
use crate::metrics::Metrics;
use crate::reload::RulesHandle;
use crate::store::Store;
use auth::{AdminToken, TokenSet};
use connections::ConnectionLimits;
use dedupe::SeenCalls;

/// How many call ids the duplicate filter remembers at most. Far above any
/// company's call rate over the window; the bound only matters under a
/// flood (or a load test), where the dispatcher's own check remains.
pub const DEDUPE_CAPACITY: usize = 100_000;

/// Everything a [`AppState`] is made of.
#[derive(Debug)]
pub struct StateParts {
    pub mode: Mode,
    pub rules: RulesHandle,
    pub dispatcher: Dispatcher,
    pub directory: Arc<Directory>,
    pub presence: Arc<PresenceBook>,
    pub metrics: Arc<Metrics>,
    /// Empty means "accept every webhook", which only dry-run allows.
    pub webhook_tokens: Vec<Secret>,
    pub admin_token: Option<Secret>,
    /// How long a decided call id is remembered.
    pub dedupe_window: Duration,
    /// The decision log, call history and claims.
    pub store: Store,
    /// Contact sources (`None`: none configured).
    pub contacts: Option<Arc<Contacts>>,
}

/// Why a state cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(
        "live mode needs at least one webhook token (webhook_tokens in the config): \
         without one, anyone could make this service transfer calls"
    )]
    NoWebhookToken,
}

#[derive(Debug)]
struct Shared {
    mode: Mode,
    rules: RulesHandle,
    dispatcher: Dispatcher,
    directory: Arc<Directory>,
    presence: Arc<PresenceBook>,
    metrics: Arc<Metrics>,
    webhook_tokens: TokenSet,
    admin: AdminToken,
    seen: SeenCalls,
    store: Store,
    contacts: Option<Arc<Contacts>>,
    started_at: DateTime<Utc>,
    warned_open: AtomicBool,
}

/// The state every handler shares. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    shared: Arc<Shared>,
}

impl AppState {
    pub fn new(parts: StateParts) -> Result<AppState, StateError> {
        if parts.mode == Mode::Live && parts.webhook_tokens.is_empty() {
            return Err(StateError::NoWebhookToken);
        }
        Ok(AppState {
            shared: Arc::new(Shared {
                mode: parts.mode,
                rules: parts.rules,
                dispatcher: parts.dispatcher,
                directory: parts.directory,
                presence: parts.presence,
                metrics: parts.metrics,
                webhook_tokens: TokenSet::new(&parts.webhook_tokens),
                admin: AdminToken::new(parts.admin_token.as_ref()),
                seen: SeenCalls::new(parts.dedupe_window, DEDUPE_CAPACITY),
                store: parts.store,
                contacts: parts.contacts,
                started_at: Utc::now(),
                warned_open: AtomicBool::new(false),
            }),
        })
    }

    pub fn mode(&self) -> Mode {
        self.shared.mode
    }

    pub fn rules(&self) -> &RulesHandle {
        &self.shared.rules
    }

    pub fn dispatcher(&self) -> &Dispatcher {
        &self.shared.dispatcher
    }

    pub fn directory(&self) -> &Arc<Directory> {
        &self.shared.directory
    }

    pub fn presence(&self) -> &Arc<PresenceBook> {
        &self.shared.presence
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
    }

    /// The state store (decision log, history, claims).
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// The contact sources, when any is configured.
    pub fn contacts(&self) -> Option<&Arc<Contacts>> {
        self.shared.contacts.as_ref()
    }

    pub fn started_at(&self) -> DateTime<Utc> {
        self.shared.started_at
    }

    pub(crate) fn seen(&self) -> &SeenCalls {
        &self.shared.seen
    }

    pub(crate) fn admin(&self) -> &AdminToken {
        &self.shared.admin
    }

    /// Whether webhooks are accepted without a token (dry-run without
    /// `webhook_tokens`).
    pub fn webhook_auth_open(&self) -> bool {
        self.shared.webhook_tokens.is_empty()
    }

    /// Checks a webhook's token. Without configured tokens (dry-run only:
    /// [`AppState::new`] refuses it in live mode) every webhook is
    /// accepted, with one warning.
    pub(crate) fn webhook_authorized(&self, token: Option<&str>) -> bool {
        if self.shared.webhook_tokens.is_empty() {
            if !self.shared.warned_open.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "no webhook_tokens configured: accepting webhooks without checking their token (dry-run only)"
                );
            }
            return self.shared.mode == Mode::DryRun;
        }
        self.shared.webhook_tokens.accepts(token)
    }
}

/// The axum app.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/aircall/calls",
            post(webhook::receive).layer(DefaultBodyLimit::max(webhook::MAX_BODY)),
        )
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/status", get(ops::status))
        .route("/metrics", get(ops::metrics))
        .route("/admin/reload", post(admin::reload))
        .route("/decisions", get(decisions::list))
        .route(
            "/admin/check",
            post(admin::check).layer(DefaultBodyLimit::max(admin::MAX_RULES_BODY)),
        )
        .fallback(not_found)
        .with_state(state)
}

async fn not_found() -> axum::response::Response {
    error::HttpError::NotFound.into_response()
}

/// Serves `state` on `listener`, within `limits`, until `shutdown`
/// completes; then stops accepting and lets requests in flight finish.
/// Draining the dispatcher is the caller's next step ([`app::App::run`]
/// does both).
pub async fn serve<F>(
    listener: TcpListener,
    state: AppState,
    limits: ConnectionLimits,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let metrics = Arc::clone(state.metrics());
    connections::serve_connections(listener, router(state), limits, metrics, shutdown).await
}
