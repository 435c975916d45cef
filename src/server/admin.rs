//! `POST /admin/reload` and `POST /admin/check`, behind the admin bearer
//! token (compared in constant time). Without an `admin_token` in the
//! config both answer 403: there is no unauthenticated admin.
//!
//! Reload is synchronous: the answer says what happened, with the same
//! diagnostics `switchboard check` prints. Check never activates anything.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::auth::AdminAccess;
use super::body_deadline;
use super::error::HttpError;
use super::AppState;
use crate::reload::{self, Rejection, ReloadOutcome, Report, Trigger};

/// The largest rules text `/admin/check` accepts (the loader's limit).
pub const MAX_RULES_BODY: usize = 8 * 1024 * 1024;

pub(super) fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), HttpError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .map(axum::http::HeaderValue::as_bytes);
    match state.admin().check(presented) {
        AdminAccess::Granted => Ok(()),
        AdminAccess::Disabled => Err(HttpError::Forbidden(
            "the admin endpoints are disabled: set admin_token in the config",
        )),
        AdminAccess::Denied => {
            tracing::warn!("admin request rejected: invalid or missing bearer token");
            Err(HttpError::Unauthorized {
                message: "invalid or missing admin bearer token",
                bearer: true,
            })
        }
    }
}

#[derive(Debug, Serialize)]
struct ReloadAnswer {
    outcome: &'static str,
    /// The revision in service after the reload.
    revision: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// Diagnostics of the new rules (errors when rejected, warnings when
    /// applied with warnings).
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<Report>,
}

/// Reloads the rules now and answers with the outcome: 200 when applied or
/// unchanged, 422 when rejected (the old rules stay in service).
pub(super) async fn reload(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(error) = authorize(&state, &headers) {
        return error.into_response();
    }
    let handle = state.rules().clone();
    let outcome = match tokio::task::spawn_blocking(move || handle.reload(Trigger::Admin)).await {
        Ok(outcome) => outcome,
        Err(error) => {
            tracing::error!(%error, "admin reload task failed");
            return HttpError::Internal.into_response();
        }
    };
    let revision = state.rules().current().revision().to_owned();
    let (status, answer) = match outcome {
        ReloadOutcome::Applied {
            previous, warnings, ..
        } => (
            StatusCode::OK,
            ReloadAnswer {
                outcome: "applied",
                revision,
                previous: Some(previous),
                reason: None,
                report: warnings,
            },
        ),
        ReloadOutcome::Unchanged { .. } => (
            StatusCode::OK,
            ReloadAnswer {
                outcome: "unchanged",
                revision,
                previous: None,
                reason: None,
                report: None,
            },
        ),
        ReloadOutcome::Rejected(Rejection { reason, report, .. }) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            ReloadAnswer {
                outcome: "rejected",
                revision,
                previous: None,
                reason: Some(reason),
                report,
            },
        ),
    };
    (status, Json(answer)).into_response()
}

#[derive(Debug, Deserialize)]
pub(super) struct CheckQuery {
    /// The file name diagnostics show (default `posted.rules`).
    name: Option<String>,
}

/// Checks a posted rules text (the body, UTF-8) without activating it:
/// 200 when valid (warnings allowed), 422 when it has errors.
pub(super) async fn check(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<CheckQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(error) = authorize(&state, &headers) {
        return error.into_response();
    }
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return HttpError::TooLarge {
                limit: MAX_RULES_BODY,
            }
            .into_response()
        }
        Err(rejection) => {
            return match body_deadline::timed_out(&rejection) {
                Some(timeout) => HttpError::BodyTimeout(timeout),
                None => HttpError::BadRequest(rejection.body_text()),
            }
            .into_response()
        }
    };
    let text = match String::from_utf8(body.to_vec()) {
        Ok(text) => text,
        Err(error) => {
            return HttpError::BadRequest(format!(
                "the rules text is not UTF-8 (byte {} is not valid UTF-8)",
                error.utf8_error().valid_up_to()
            ))
            .into_response()
        }
    };
    let name = query.name.unwrap_or_else(|| "posted.rules".to_owned());
    let report = match tokio::task::spawn_blocking(move || reload::check_text(&name, &text)).await {
        Ok(report) => report,
        Err(error) => {
            tracing::error!(%error, "admin check task failed");
            return HttpError::Internal.into_response();
        }
    };
    let status = if report.valid {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    (status, Json(report)).into_response()
}
