//! Aircall: the webhook payloads it sends us.

pub mod client;
pub mod directory;
pub mod dispatch;
pub mod presence;
pub mod rate_limit;
pub mod webhook;
