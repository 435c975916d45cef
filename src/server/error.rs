//! The error answers of the HTTP API: one JSON shape, one status mapping.
//!
//! Every error body is `{"error": "..."}` with a message meant for the
//! caller. Messages never carry secrets: a rejected token is never echoed.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// An HTTP error answer. Each variant documents its status.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// 400: malformed JSON, not an Aircall envelope, wrong field types.
    #[error("{0}")]
    BadRequest(String),
    /// 401: missing or wrong webhook token / admin bearer token.
    #[error("{message}")]
    Unauthorized {
        message: &'static str,
        /// Whether to send `WWW-Authenticate: Bearer` (admin endpoints).
        bearer: bool,
    },
    /// 403: the endpoint is disabled by configuration.
    #[error("{0}")]
    Forbidden(&'static str),
    /// 404: no such endpoint.
    #[error("no such endpoint")]
    NotFound,
    /// 408: the body did not arrive in time; the connection is closed.
    #[error("{0}")]
    BodyTimeout(super::body_deadline::BodyTimeout),
    /// 413: body over the limit.
    #[error("request body is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// 503: try again later (queue full, shutting down).
    #[error("{0}")]
    Unavailable(String),
    /// 500: a bug or a failed background task; details are logged, not sent.
    #[error("internal error")]
    Internal,
}

impl HttpError {
    pub fn status(&self) -> StatusCode {
        match self {
            HttpError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HttpError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            HttpError::Forbidden(_) => StatusCode::FORBIDDEN,
            HttpError::NotFound => StatusCode::NOT_FOUND,
            HttpError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            HttpError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            HttpError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            HttpError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

#[derive(Serialize)]
struct ErrorBody {
    error: String,
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = self.status();
        let bearer = matches!(self, HttpError::Unauthorized { bearer: true, .. });
        let retry = matches!(self, HttpError::Unavailable(_));
        // The rest of a late body may still be on its way: the connection
        // cannot carry another request.
        let close = matches!(self, HttpError::BodyTimeout(_));
        let mut response = (
            status,
            Json(ErrorBody {
                error: self.to_string(),
            }),
        )
            .into_response();
        if bearer {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"switchboard admin\""),
            );
        }
        if close {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if retry {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
