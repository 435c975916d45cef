//! Aircall: the webhook payloads it sends us.

pub mod webhook;
