//! `GET /decisions`: the decision log over HTTP, behind the admin token.
//!
//! Query parameters mirror `switchboard decisions`: `call` (a call id),
//! `caller` (any format, compared in E.164), `since` (`30m`, `1h`, `7d`),
//! `limit` (default 20) and `all=true` (every webhook, not only
//! `call.created`). The answer is a JSON array, newest first, each record
//! with its rule's name, file and line, its actions and their outcomes.
//! Reading only; a failed read is a 500 whose details go to the log.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;

use super::admin::authorize;
use super::error::HttpError;
use super::AppState;
use crate::config::parse_duration;
use crate::lang::phone;
use crate::store::query::{DecisionQuery, MAX_LIMIT};

#[derive(Debug, Deserialize)]
pub(super) struct DecisionsQuery {
    call: Option<i64>,
    caller: Option<String>,
    since: Option<String>,
    limit: Option<u32>,
    #[serde(default)]
    all: bool,
}

pub(super) async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<DecisionsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(error) = authorize(&state, &headers) {
        return error.into_response();
    }
    let Query(query) = match query {
        Ok(query) => query,
        Err(rejection) => return HttpError::BadRequest(rejection.body_text()).into_response(),
    };
    let since = match query.since.as_deref().map(parse_duration).transpose() {
        Ok(age) => age
            .and_then(|age| chrono::Duration::from_std(age).ok())
            .and_then(|age| Utc::now().checked_sub_signed(age)),
        Err(problem) => return HttpError::BadRequest(format!("since: {problem}")).into_response(),
    };
    let caller = query
        .caller
        .as_deref()
        .map(|raw| phone::normalize(raw, None).map_or_else(|| raw.trim().to_owned(), |n| n.e164));
    let wanted = DecisionQuery {
        call_id: query.call,
        caller,
        since,
        limit: query.limit.unwrap_or(20).clamp(1, MAX_LIMIT),
        all_events: query.all,
    };
    match state.store().decisions(&wanted).await {
        Ok(entries) => (StatusCode::OK, Json(entries)).into_response(),
        Err(error) => {
            tracing::error!(%error, "GET /decisions: reading the log failed");
            HttpError::Internal.into_response()
        }
    }
}
