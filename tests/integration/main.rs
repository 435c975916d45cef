//! The integration tests: one binary (each file a module), so the crate
//! links once for all of them. `support/` holds what they share: running
//! the real binary (`cli`), a server in process or as a child process
//! (`serve`), a fake Aircall (`aircall`) and state-store databases
//! (`store`).
//!
//! Tests that need PostgreSQL or MariaDB are `#[ignore]`d with the variable
//! they need (`SWITCHBOARD_TEST_POSTGRES`, `SWITCHBOARD_TEST_MYSQL`); run
//! them with `cargo test -- --include-ignored` and the variables set, as
//! `.ci/run` does.

mod support;

mod aircall_client;
mod aircall_dispatch;
mod aircall_presence;
mod calendar;
mod check;
mod cli_check;
mod cli_explain;
mod cli_test;
mod contacts_check;
mod contacts_serve;
mod contacts_sources;
mod crash;
mod editors;
mod eval;
mod fmt;
mod history;
mod long_chains;
mod long_chains_end_to_end;
mod reliability;
mod reload;
mod replicas;
mod serve_admin;
mod serve_cli;
mod serve_connections;
mod serve_logs;
mod serve_webhook;
mod store_log;
