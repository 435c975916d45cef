//! The Aircall Public API client: one `reqwest::Client`, one request budget.
//!
//! [`AircallClient`] knows the handful of endpoints routing needs (ping,
//! transfer, users, teams, tags, availabilities, tag and comment a call)
//! and maps every response into data or a structured [`ApiError`]. Every
//! request first takes a token from the shared [`RateLimiter`] and feeds
//! the response's rate-limit headers back to it; every HTTP exchange is
//! reported once to an [`ApiObserver`] (the server's metrics).
//!
//! What it must not do: retry anything that is not idempotent. Lists and
//! the ping are retried a bounded number of times; a transfer, a tag or a
//! comment is sent exactly once per call of the method, and the caller
//! (the dispatcher) decides whether a failure proves it had no effect.
//! It never logs or displays credentials.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::rate_limit::{NoBudget, Priority, RateHeaders, RateLimitConfig, RateLimiter};
use crate::lang::ast::Ringing;

/// Where the real API lives.
pub const DEFAULT_BASE_URL: &str = "https://api.aircall.io";

/// Aircall's largest page size; anything smaller costs more requests.
const PER_PAGE: &str = "50";

/// How much of an error body is kept for logs.
const BODY_LIMIT: usize = 512;

/// A guard against a server whose `next_page_link` never ends.
const MAX_PAGES: usize = 2_000;

/// How the client proves who it is. `Debug` never shows the secrets.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// An API key: `Authorization: Basic base64(api_id:api_token)`.
    Basic { api_id: String, api_token: String },
    /// An OAuth access token: `Authorization: Bearer <token>`.
    Bearer { token: String },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Basic { .. } => f.write_str("Basic { api_id: ***, api_token: *** }"),
            Credentials::Bearer { .. } => f.write_str("Bearer { token: *** }"),
        }
    }
}

/// Client settings. [`ClientConfig::new`] fills in the defaults.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://api.aircall.io`, or a fake/staging server. A path prefix
    /// is kept (`https://proxy.example/aircall` + `/v1/ping`).
    pub base_url: String,
    pub credentials: Credentials,
    /// Time to establish a connection (TCP + TLS).
    pub connect_timeout: Duration,
    /// Time for a whole exchange, body included.
    pub request_timeout: Duration,
    /// The company's request budget.
    pub rate_limit: RateLimitConfig,
    /// Attempts for idempotent requests (lists, ping); at least 1.
    pub read_attempts: u32,
    /// First pause between attempts of an idempotent request; doubles.
    pub read_backoff: Duration,
}

impl ClientConfig {
    /// Defaults: the real API, 3 s to connect, 10 s per request, 60
    /// requests a minute, 3 attempts for reads.
    pub fn new(credentials: Credentials) -> ClientConfig {
        ClientConfig {
            base_url: DEFAULT_BASE_URL.to_owned(),
            credentials,
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(10),
            rate_limit: RateLimitConfig::default(),
            read_attempts: 3,
            read_backoff: Duration::from_millis(250),
        }
    }
}

/// The client could not be built from its settings.
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    #[error("invalid Aircall base URL {url:?}: {reason}")]
    BaseUrl { url: String, reason: String },
    #[error("could not build the HTTP client: {0}")]
    Http(String),
}

/// Which endpoint a request went to: the `endpoint` label of metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    Ping,
    Transfer,
    Users,
    Teams,
    Tags,
    Availabilities,
    TagCall,
    CommentCall,
    ContactSearch,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Ping => "ping",
            Endpoint::Transfer => "transfer",
            Endpoint::Users => "users",
            Endpoint::Teams => "teams",
            Endpoint::Tags => "tags",
            Endpoint::Availabilities => "availabilities",
            Endpoint::TagCall => "tag_call",
            Endpoint::CommentCall => "comment_call",
            Endpoint::ContactSearch => "contact_search",
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one HTTP exchange ended, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RequestOutcome {
    /// The server answered with this status.
    Status(u16),
    /// No answer within the request timeout.
    Timeout,
    /// No connection could be made (refused, DNS, TLS).
    Connect,
    /// The connection failed after it was made.
    Transport,
}

impl RequestOutcome {
    /// `200`, `429`, `timeout`, `connect`, `transport`: the `status` label.
    pub fn label(self) -> String {
        match self {
            RequestOutcome::Status(code) => code.to_string(),
            RequestOutcome::Timeout => "timeout".to_owned(),
            RequestOutcome::Connect => "connect".to_owned(),
            RequestOutcome::Transport => "transport".to_owned(),
        }
    }
}

/// Told about every HTTP exchange with Aircall (one call per request sent,
/// retries included). The server implements it for its metrics.
pub trait ApiObserver: Send + Sync + 'static {
    fn observe(&self, endpoint: Endpoint, outcome: RequestOutcome, latency: Duration);
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopObserver;

impl ApiObserver for NoopObserver {
    fn observe(&self, _endpoint: Endpoint, _outcome: RequestOutcome, _latency: Duration) {}
}

/// Why a request did not succeed. The variants say what is known about
/// whether it reached Aircall, which is what decides retries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The connection failed. With `connect: true` no request was sent.
    #[error("could not {} Aircall: {message}", if *.connect { "connect to" } else { "talk to" })]
    Transport { connect: bool, message: String },
    /// No complete answer within the request timeout; the request may have
    /// been received and acted on.
    #[error("Aircall did not answer within {0:?}")]
    Timeout(Duration),
    /// A 401 answer. Credentials are always sent, so this is Aircall
    /// refusing them (Aircall documents 401 for a request without any and
    /// 403 for wrong ones, but a proxy or a revoked token may answer
    /// otherwise): the message repeats what Aircall said, truncated.
    #[error("Aircall answered 401 Unauthorized to the credentials sent (aircall.api_id and aircall.api_token, or aircall.bearer_token): {}", if .body.is_empty() { "(empty body)" } else { .body.as_str() })]
    Unauthorized { body: String },
    /// 403: Aircall's answer to an invalid API key or bearer token.
    #[error("Aircall answered 403 Forbidden: the API ID and token (or the bearer token) are not valid for any company")]
    Forbidden,
    /// 429: the company's budget is spent. Retry after `reset`.
    #[error("Aircall's rate limit was reached{}", match .reset { Some(reset) => format!(" (resets at {reset})"), None => String::new() })]
    RateLimited { reset: Option<DateTime<Utc>> },
    /// Any other non-success status; `body` is truncated.
    #[error("Aircall answered {code}: {body}")]
    Status { code: u16, body: String },
    /// A success whose body is not what the endpoint returns.
    #[error("unexpected answer from Aircall's {endpoint} endpoint: {message}")]
    Decode { endpoint: Endpoint, message: String },
    /// The request was not sent: no budget before its deadline.
    #[error(transparent)]
    NoBudget(#[from] NoBudget),
    /// The request URL could not be built on the base URL.
    #[error("cannot build the URL of Aircall's {endpoint} endpoint: {reason}")]
    InvalidUrl { endpoint: Endpoint, reason: String },
    /// A `next_page_link` that cannot be followed.
    #[error("Aircall's {endpoint} endpoint gave an unusable next page link {link:?}")]
    Paging { endpoint: Endpoint, link: String },
}

impl ApiError {
    /// True when the request surely had no effect on Aircall's side: it
    /// was never sent, never connected, or was refused by the rate limit.
    pub fn surely_not_applied(&self) -> bool {
        matches!(
            self,
            ApiError::Transport { connect: true, .. }
                | ApiError::RateLimited { .. }
                | ApiError::NoBudget(_)
        )
    }

    /// True when Aircall may have acted on the request even though we saw
    /// no success: a timeout, a connection lost mid-way, or a 5xx.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            ApiError::Timeout(_) | ApiError::Transport { connect: false, .. } => true,
            ApiError::Status { code, .. } => *code >= 500,
            _ => false,
        }
    }

    /// Worth asking again for a request that can safely be repeated.
    fn retryable_read(&self) -> bool {
        (self.surely_not_applied() && !matches!(self, ApiError::NoBudget(_)))
            || self.outcome_unknown()
    }
}

/// Where a transfer goes, in Aircall's terms (ids and E.164 only).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TransferTarget {
    User { id: u64 },
    Team { id: u64, ringing: Option<Ringing> },
    Number { e164: String },
}

impl TransferTarget {
    /// The request body: exactly one of `user_id`, `team_id` (with an
    /// optional `dispatching_strategy`) or `number`.
    pub fn body(&self) -> serde_json::Value {
        match self {
            TransferTarget::User { id } => serde_json::json!({ "user_id": id }),
            TransferTarget::Team { id, ringing: None } => serde_json::json!({ "team_id": id }),
            TransferTarget::Team {
                id,
                ringing: Some(ringing),
            } => serde_json::json!({ "team_id": id, "dispatching_strategy": ringing.as_str() }),
            TransferTarget::Number { e164 } => serde_json::json!({ "number": e164 }),
        }
    }
}

impl fmt::Display for TransferTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferTarget::User { id } => write!(f, "user {id}"),
            TransferTarget::Team { id, ringing: None } => write!(f, "team {id}"),
            TransferTarget::Team {
                id,
                ringing: Some(ringing),
            } => write!(f, "team {id} (ringing {})", ringing.as_str()),
            TransferTarget::Number { e164 } => write!(f, "number {e164}"),
        }
    }
}

/// A user from `GET /v1/users`. Only `id` is certain to be present.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiUser {
    pub id: u64,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub available: Option<bool>,
    #[serde(default)]
    pub availability_status: Option<String>,
}

/// A team from `GET /v1/teams`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiTeam {
    pub id: u64,
    pub name: String,
}

/// A tag from `GET /v1/tags`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiTag {
    pub id: u64,
    pub name: String,
}

/// A row of `GET /v1/users/availabilities`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiAvailability {
    pub id: u64,
    pub availability: Availability,
}

/// The live state Aircall reports for a user (not the working-hours
/// `availability_status`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    Available,
    Offline,
    DoNotDisturb,
    InCall,
    AfterCallWork,
    /// A value this version does not know; treated as "nothing known".
    #[serde(untagged)]
    Other(String),
}

/// One page of a list endpoint: `{"meta": {...}, "<items>": [...]}`.
#[derive(Debug, Deserialize)]
struct Page<T> {
    #[serde(default)]
    meta: Option<Meta>,
    #[serde(alias = "users", alias = "teams", alias = "tags", alias = "contacts")]
    items: Vec<T>,
}

#[derive(Debug, Default, Deserialize)]
struct Meta {
    #[serde(default)]
    next_page_link: Option<String>,
}

/// The Aircall API client. Cheap to clone; clones share the HTTP
/// connection pool, the rate limiter and the observer.
#[derive(Clone)]
pub struct AircallClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// Always ends with `/`, so joining `v1/...` keeps any path prefix.
    base: Url,
    credentials: Credentials,
    limiter: RateLimiter,
    observer: Arc<dyn ApiObserver>,
    request_timeout: Duration,
    read_attempts: u32,
    read_backoff: Duration,
}

impl fmt::Debug for AircallClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AircallClient")
            .field("base", &self.inner.base.as_str())
            .field("credentials", &self.inner.credentials)
            .finish_non_exhaustive()
    }
}

/// A response whose status has been checked.
struct Answer {
    body: Vec<u8>,
}

impl AircallClient {
    /// Builds the client (one connection pool for the process) with a
    /// fresh rate limiter and no observer.
    pub fn new(config: ClientConfig) -> Result<AircallClient, ClientBuildError> {
        let limiter = RateLimiter::new(config.rate_limit.clone());
        AircallClient::with_limiter(config, limiter, Arc::new(NoopObserver))
    }

    /// Builds the client around an existing limiter and an observer.
    pub fn with_limiter(
        config: ClientConfig,
        limiter: RateLimiter,
        observer: Arc<dyn ApiObserver>,
    ) -> Result<AircallClient, ClientBuildError> {
        let mut base =
            Url::parse(config.base_url.trim()).map_err(|error| ClientBuildError::BaseUrl {
                url: config.base_url.clone(),
                reason: error.to_string(),
            })?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(ClientBuildError::BaseUrl {
                url: config.base_url.clone(),
                reason: "expected an http:// or https:// URL".to_owned(),
            });
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        base.set_query(None);
        let http = reqwest::Client::builder()
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            // Credentials must never follow a redirect to another host.
            .redirect(reqwest::redirect::Policy::none())
            // The dispatcher alone decides what is resent (transfers are
            // not idempotent) and counts every attempt against the rate
            // limit: reqwest's own retries (HTTP/2 refusals) would be
            // attempts nobody counted, and cost a request clone each.
            .retry(reqwest::retry::never())
            .build()
            .map_err(|error| ClientBuildError::Http(error.to_string()))?;
        Ok(AircallClient {
            inner: Arc::new(Inner {
                http,
                base,
                credentials: config.credentials,
                limiter,
                observer,
                request_timeout: config.request_timeout,
                read_attempts: config.read_attempts.max(1),
                read_backoff: config.read_backoff,
            }),
        })
    }

    /// Replaces the observer (the server sets its metrics here).
    pub fn with_observer(self, observer: Arc<dyn ApiObserver>) -> AircallClient {
        let inner = &self.inner;
        AircallClient {
            inner: Arc::new(Inner {
                http: inner.http.clone(),
                base: inner.base.clone(),
                credentials: inner.credentials.clone(),
                limiter: inner.limiter.clone(),
                observer,
                request_timeout: inner.request_timeout,
                read_attempts: inner.read_attempts,
                read_backoff: inner.read_backoff,
            }),
        }
    }

    /// The shared request budget.
    pub fn limiter(&self) -> &RateLimiter {
        &self.inner.limiter
    }

    /// The base URL requests are sent to.
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// `GET /v1/ping`: checks the credentials. 401 and 403 come back as
    /// [`ApiError::Unauthorized`] and [`ApiError::Forbidden`].
    pub async fn ping(&self) -> Result<(), ApiError> {
        let url = self.url(Endpoint::Ping, "v1/ping")?;
        self.read::<serde_json::Value>(Endpoint::Ping, url, Priority::Urgent)
            .await
            .map(drop)
    }

    /// `POST /v1/calls/{id}/transfers`: sent once, never retried here.
    /// Succeeds on 204 (any 2xx). With a `deadline`, the request is not
    /// sent when the budget cannot allow it in time.
    pub async fn transfer(
        &self,
        call_id: i64,
        target: &TransferTarget,
        deadline: Option<Instant>,
    ) -> Result<(), ApiError> {
        let url = self.url(Endpoint::Transfer, &format!("v1/calls/{call_id}/transfers"))?;
        let body = target.body();
        self.send(
            Endpoint::Transfer,
            Method::POST,
            url,
            Some(&body),
            Priority::Urgent,
            deadline,
        )
        .await
        .map(drop)
    }

    /// `POST /v1/calls/{id}/tags` with tag ids: sent once.
    pub async fn tag_call(
        &self,
        call_id: i64,
        tag_ids: &[u64],
        deadline: Option<Instant>,
    ) -> Result<(), ApiError> {
        let url = self.url(Endpoint::TagCall, &format!("v1/calls/{call_id}/tags"))?;
        let body = serde_json::json!({ "tags": tag_ids });
        self.send(
            Endpoint::TagCall,
            Method::POST,
            url,
            Some(&body),
            Priority::Background,
            deadline,
        )
        .await
        .map(drop)
    }

    /// `POST /v1/calls/{id}/comments`: sent once (Aircall keeps at most 5
    /// comments per call and a repeat would be a second note).
    pub async fn comment_call(
        &self,
        call_id: i64,
        content: &str,
        deadline: Option<Instant>,
    ) -> Result<(), ApiError> {
        let url = self.url(
            Endpoint::CommentCall,
            &format!("v1/calls/{call_id}/comments"),
        )?;
        let body = serde_json::json!({ "content": content });
        self.send(
            Endpoint::CommentCall,
            Method::POST,
            url,
            Some(&body),
            Priority::Background,
            deadline,
        )
        .await
        .map(drop)
    }

    /// Every user (all pages of `GET /v1/users`).
    pub async fn list_users(&self) -> Result<Vec<ApiUser>, ApiError> {
        self.list_all(Endpoint::Users, "v1/users").await
    }

    /// Every team (all pages of `GET /v1/teams`).
    pub async fn list_teams(&self) -> Result<Vec<ApiTeam>, ApiError> {
        self.list_all(Endpoint::Teams, "v1/teams").await
    }

    /// Every tag (all pages of `GET /v1/tags`).
    pub async fn list_tags(&self) -> Result<Vec<ApiTag>, ApiError> {
        self.list_all(Endpoint::Tags, "v1/tags").await
    }

    /// Every user's live availability (all pages of
    /// `GET /v1/users/availabilities`).
    /// `GET /v1/contacts/search?phone_number=...`: the first page of the
    /// shared contacts Aircall associates with a number. Sent once, with
    /// the urgency of a decision in progress; not sent when the budget
    /// cannot allow it before `deadline`.
    pub async fn search_contacts<T: DeserializeOwned>(
        &self,
        phone_number: &str,
        deadline: Option<Instant>,
    ) -> Result<Vec<T>, ApiError> {
        let mut url = self.url(Endpoint::ContactSearch, "v1/contacts/search")?;
        url.query_pairs_mut()
            .append_pair("phone_number", phone_number)
            .append_pair("per_page", PER_PAGE);
        let answer = self
            .send(
                Endpoint::ContactSearch,
                Method::GET,
                url,
                None,
                Priority::Urgent,
                deadline,
            )
            .await?;
        let page: Page<T> =
            serde_json::from_slice(&answer.body).map_err(|error| ApiError::Decode {
                endpoint: Endpoint::ContactSearch,
                message: error.to_string(),
            })?;
        Ok(page.items)
    }

    pub async fn user_availabilities(&self) -> Result<Vec<ApiAvailability>, ApiError> {
        self.list_all(Endpoint::Availabilities, "v1/users/availabilities")
            .await
    }

    fn url(&self, endpoint: Endpoint, path: &str) -> Result<Url, ApiError> {
        self.inner
            .base
            .join(path)
            .map_err(|error| ApiError::InvalidUrl {
                endpoint,
                reason: format!("{path}: {error}"),
            })
    }

    /// Follows a `next_page_link` on *our* base URL: the credentials go only
    /// to the configured host, and a path prefix (a proxy) is kept. The
    /// link's path is taken from its `/v1/` (or `/v2/`) segment on.
    fn follow(&self, endpoint: Endpoint, link: &str) -> Result<Url, ApiError> {
        let unusable = || ApiError::Paging {
            endpoint,
            link: link.to_owned(),
        };
        let parsed = self.inner.base.join(link).map_err(|_| unusable())?;
        let path = parsed.path();
        let from = ["/v1/", "/v2/"]
            .iter()
            .filter_map(|segment| path.find(segment))
            .min()
            .ok_or_else(unusable)?;
        let mut url = self
            .inner
            .base
            .join(&path[from + 1..])
            .map_err(|_| unusable())?;
        url.set_query(parsed.query());
        Ok(url)
    }

    async fn list_all<T: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        path: &str,
    ) -> Result<Vec<T>, ApiError> {
        let mut url = self.url(endpoint, path)?;
        url.query_pairs_mut().append_pair("per_page", PER_PAGE);
        let mut items = Vec::new();
        let mut seen = HashSet::new();
        loop {
            if !seen.insert(url.to_string()) || seen.len() > MAX_PAGES {
                return Err(ApiError::Paging {
                    endpoint,
                    link: url.to_string(),
                });
            }
            let page: Page<T> = self.read(endpoint, url, Priority::Background).await?;
            items.extend(page.items);
            match page.meta.and_then(|meta| meta.next_page_link) {
                Some(link) if !link.trim().is_empty() => url = self.follow(endpoint, &link)?,
                _ => return Ok(items),
            }
        }
    }

    /// A GET that may be repeated: bounded attempts with doubling pauses;
    /// a 429 waits for the limiter's pause instead.
    async fn read<T: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        url: Url,
        priority: Priority,
    ) -> Result<T, ApiError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .send(endpoint, Method::GET, url.clone(), None, priority, None)
                .await
                .and_then(|answer| {
                    serde_json::from_slice(&answer.body).map_err(|error| ApiError::Decode {
                        endpoint,
                        message: error.to_string(),
                    })
                });
            match result {
                Err(error) if attempt < self.inner.read_attempts && error.retryable_read() => {
                    if !matches!(error, ApiError::RateLimited { .. }) {
                        let factor = 2u32.saturating_pow(attempt - 1);
                        tokio::time::sleep(self.inner.read_backoff.saturating_mul(factor)).await;
                    }
                }
                other => return other,
            }
        }
    }

    /// One HTTP exchange: budget, request, observation, status mapping.
    async fn send(
        &self,
        endpoint: Endpoint,
        method: Method,
        url: Url,
        body: Option<&serde_json::Value>,
        priority: Priority,
        deadline: Option<Instant>,
    ) -> Result<Answer, ApiError> {
        self.inner.limiter.acquire(priority, deadline).await?;
        let expects_body = method == Method::GET;
        let mut request = self.inner.http.request(method, url);
        request = match &self.inner.credentials {
            Credentials::Basic { api_id, api_token } => request.basic_auth(api_id, Some(api_token)),
            Credentials::Bearer { token } => request.bearer_auth(token),
        };
        if let Some(body) = body {
            request = request.json(body);
        }
        let started = Instant::now();
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                let (outcome, error) = self.classify(&error);
                self.inner
                    .observer
                    .observe(endpoint, outcome, started.elapsed());
                return Err(error);
            }
        };
        let status = response.status();
        let headers = RateHeaders::from_headers(response.headers());
        self.inner.limiter.observe(
            status == StatusCode::TOO_MANY_REQUESTS,
            &headers,
            Utc::now(),
        );
        let body = response.bytes().await;
        self.inner.observer.observe(
            endpoint,
            RequestOutcome::Status(status.as_u16()),
            started.elapsed(),
        );
        if status == StatusCode::TOO_MANY_REQUESTS {
            tracing::warn!(
                endpoint = endpoint.as_str(),
                reset = ?headers.reset,
                "Aircall's rate limit was reached; requests are paused until the reset"
            );
        }
        let body = match body {
            Ok(body) => body.to_vec(),
            // A read needs its body: a cut-short one is a failed exchange.
            Err(error) if expects_body => return Err(self.classify(&error).1),
            // Otherwise the status is the answer: the request was received.
            Err(_) if status.is_success() => Vec::new(),
            Err(error) => error.to_string().into_bytes(),
        };
        match status {
            status if status.is_success() => Ok(Answer { body }),
            StatusCode::TOO_MANY_REQUESTS => Err(ApiError::RateLimited {
                reset: headers.reset,
            }),
            StatusCode::UNAUTHORIZED => Err(ApiError::Unauthorized {
                body: truncate(&body),
            }),
            StatusCode::FORBIDDEN => Err(ApiError::Forbidden),
            status => Err(ApiError::Status {
                code: status.as_u16(),
                body: truncate(&body),
            }),
        }
    }

    fn classify(&self, error: &reqwest::Error) -> (RequestOutcome, ApiError) {
        // Connect errors first: a connect *timeout* still means nothing
        // was sent, which is what retries care about.
        if error.is_connect() {
            (
                RequestOutcome::Connect,
                ApiError::Transport {
                    connect: true,
                    message: describe(error),
                },
            )
        } else if error.is_timeout() {
            (
                RequestOutcome::Timeout,
                ApiError::Timeout(self.inner.request_timeout),
            )
        } else {
            (
                RequestOutcome::Transport,
                ApiError::Transport {
                    connect: false,
                    message: describe(error),
                },
            )
        }
    }
}

/// The error and its causes on one line ("error sending request ...:
/// tcp connect error: Connection refused"). The URL in it is ours and
/// carries no credentials (they travel in a header).
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Keeps at most [`BODY_LIMIT`] bytes of a body, on a character boundary.
fn truncate(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.len() <= BODY_LIMIT {
        return text.to_owned();
    }
    let mut end = BODY_LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
