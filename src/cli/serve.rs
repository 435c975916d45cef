//! `switchboard serve`: run the webhook service.
//!
//! Reads the config (or uses the defaults: 127.0.0.1:8080,
//! `rules/main.rules`, dry-run), applies the command-line overrides, sets
//! up logging, starts the service ([`crate::server::app::App`]) and serves
//! until SIGTERM or Ctrl-C; then stops accepting, lets queued actions that
//! are still within their deadline finish, and exits. SIGHUP reloads the
//! rules. Before anything opens a file, the open-files soft limit is
//! raised to the hard limit (each connection takes one; the default cap
//! on connections follows). This file only wires things together.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use tokio::net::TcpListener;

use super::ExitStatus;
use crate::config::{Config, LogFormat, Mode, WatchMode};
use crate::server::app::{App, StartError};
use crate::server::open_files;
use crate::telemetry;

/// Options of `switchboard serve`; each overrides the config file.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// YAML config file (see switchboard.example.yaml). Without one: listen
    /// on 127.0.0.1:8080, rules from rules/main.rules, dry-run.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on, e.g. 0.0.0.0:8080.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Rules file, or directory of *.rules files.
    #[arg(long, value_name = "PATH")]
    pub rules: Option<PathBuf>,
    /// How to notice rules changes: OS notifications, polling (for file
    /// systems without them), or off (SIGHUP and /admin/reload only).
    #[arg(long, value_enum)]
    pub watch: Option<WatchMode>,
    /// The state store: a SQLite file or a postgres:// URL (default
    /// data/switchboard.db).
    #[arg(long, value_name = "PATH_OR_URL", value_parser = crate::store::StateLocation::parse)]
    pub state: Option<crate::store::StateLocation>,
    /// Log line format (default human; filter with RUST_LOG).
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
}

impl ServeArgs {
    /// The config file (or the defaults) with the command line applied.
    pub fn resolve_config(&self) -> Result<Config, crate::config::ConfigError> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(listen) = self.listen {
            config.listen = listen;
        }
        if let Some(rules) = &self.rules {
            config.rules.clone_from(rules);
        }
        if let Some(state) = &self.state {
            config.state = state.clone();
        }
        if let Some(watch) = self.watch {
            config.watch = watch;
        }
        if let Some(format) = self.log_format {
            config.log_format = format;
        }
        Ok(config)
    }
}

/// Runs the service until it is told to stop.
pub fn run(args: &ServeArgs) -> ExitStatus {
    let config = match args.resolve_config() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitStatus::Failure;
        }
    };
    // Only fails if a subscriber is already installed (tests running `run`
    // in process); logging then goes there. The guard flushes the last
    // lines when `run` returns.
    let _logs = telemetry::init(config.log_format).ok();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("switchboard")
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitStatus::Failure;
        }
    };
    runtime.block_on(serve(config))
}

async fn serve(config: Config) -> ExitStatus {
    raise_open_files_limit();
    let mut app = match App::start(&config).await {
        Ok(app) => app,
        Err(error @ StartError::Rules { .. }) => {
            eprintln!("error: {error}");
            return ExitStatus::Invalid;
        }
        Err(error) => {
            eprintln!("error: {error}");
            return ExitStatus::Failure;
        }
    };
    #[cfg(unix)]
    if let Err(error) = app.reload_on_sighup() {
        eprintln!("error: {error}");
        return ExitStatus::Failure;
    }
    let listener = match TcpListener::bind(config.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("error: cannot listen on {}: {error}", config.listen);
            return ExitStatus::Failure;
        }
    };
    let address = listener
        .local_addr()
        .map_or_else(|_| config.listen.to_string(), |a| a.to_string());
    let mode = app.state().mode();
    tracing::info!(
        address = address.as_str(),
        mode = mode.as_str(),
        rules = %config.rules.display(),
        revision = app.state().rules().current().revision(),
        "switchboard listening on http://{address}/aircall/calls{}",
        if mode == Mode::DryRun {
            " (DRY-RUN: nothing is sent to Aircall)"
        } else {
            ""
        }
    );
    match app.run(listener, shutdown_signal()).await {
        Ok(()) => ExitStatus::Success,
        Err(error) => {
            eprintln!("error: server failed: {error}");
            ExitStatus::Failure
        }
    }
}

/// Raises the open-files soft limit to the hard limit: a process-wide
/// setting, so the binary's business, not the library's (tests run many
/// servers in one process). Failing leaves the current limit, which the
/// default connection cap then follows.
fn raise_open_files_limit() {
    match open_files::raise_to_hard_limit() {
        Ok((before, after)) if after > before => {
            tracing::info!(before, after, "open-files limit raised to the hard limit");
        }
        Ok((_, limit)) => tracing::debug!(limit, "open-files limit already at the hard limit"),
        Err(error) => {
            tracing::warn!(%error, "cannot raise the open-files limit; keeping the current one");
        }
    }
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("Ctrl-C received: shutting down"),
        () = terminate => tracing::info!("SIGTERM received: shutting down"),
    }
}
