//! Switchboard: a call-routing rules engine for Aircall.
//!
//! # Layout
//! - [`lang`]: the rules language (parse, check, evaluate). Pure: no I/O.
//! - [`aircall`]: Aircall's webhook payloads and (for `serve`) its REST API.
//! - [`cli`]: the `switchboard` subcommands, one file each.
//! - [`suites`]: rule test suites (`*.test.yaml`), run by `switchboard test`.

// The parser pest derives without its `std` feature names `::alloc`.
extern crate alloc;

pub mod aircall;
pub mod cli;
pub mod config;
pub mod contacts;
pub mod lang;
pub mod loader;
pub mod metrics;
pub mod recent;
pub mod reload;
pub mod server;
pub mod store;
pub mod suites;
pub mod telemetry;
