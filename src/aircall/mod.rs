//! Aircall: what it sends us and what we ask of it.
//!
//! - [`webhook`]: the webhook envelope and payloads, decoded into the
//!   `lang::Call` the rules see.
//! - [`client`]: the Public API client (reqwest over rustls, basic auth,
//!   typed errors, `GET /v1/ping`).
//! - [`dispatch`]: the bounded queue that carries out decided actions,
//!   with deadlines and retries only when a request surely had no effect.
//! - [`rate_limit`]: the company's one request budget, transfers first.
//! - [`directory`]: users, teams and tags kept in memory, refreshed in the
//!   background, so a routed call costs one request.
//! - [`presence`]: who is available, from webhooks and periodic reads.

pub mod client;
pub mod directory;
pub mod dispatch;
pub mod presence;
pub mod rate_limit;
pub mod webhook;
