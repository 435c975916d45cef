//! Switchboard: a call-routing rules engine for Aircall.
//!
//! # Layout
//! The language core at the bottom, the service and the command line on top:
//! - [`lang`]: the rules language (parse, check, evaluate, explain,
//!   format). Pure: no I/O and no clock; it parses a large file on more
//!   than one thread only as far as the caller allows.
//! - [`suites`]: rule test suites (`*.test.yaml`) and their runner, behind
//!   `switchboard test`.
//! - [`loader`]: a rules path (a file or a directory) read into sources.
//! - [`config`]: `switchboard.yaml`, with the one syntax of durations,
//!   counts and secrets.
//! - [`aircall`]: Aircall's webhook payloads and its Public API (client,
//!   dispatcher, rate limit, directory, presence).
//! - [`contacts`]: where `contact.FIELD` comes from (SQL, CSV, Aircall).
//! - [`store`]: the state store: decision log, call history, claims.
//! - [`reload`]: the rules in service and how they are replaced.
//! - [`server`]: the HTTP service of `switchboard serve`.
//! - [`recent`]: the bounded set of recent call ids behind duplicate checks.
//! - [`metrics`], [`telemetry`]: what the service counts and logs.
//! - [`cli`]: the `switchboard` subcommands, one file each.

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
