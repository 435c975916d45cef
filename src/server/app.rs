//! Assembling the service from a [`Config`]: rules, Aircall client,
//! directory, presence, dispatcher, watcher; and running it until shutdown.
//!
//! Start-up fails fast on what an operator must fix: invalid rules, live
//! mode without a webhook token, credentials Aircall refuses (401/403) or a
//! base URL that is not Aircall's API. It does not fail on what may heal by
//! itself (Aircall unreachable, a directory load that times out): the
//! service starts, `/readyz` says not ready, and background tasks retry.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::connections::ConnectionLimits;
use super::sink::{LogSink, MetricsObserver};
use super::{serve, AppState, StateError, StateParts};
use crate::aircall::client::{self, AircallClient, ApiError, ClientBuildError, ClientConfig};
use crate::aircall::directory::Directory;
use crate::aircall::dispatch::{DispatchConfig, Dispatcher};
use crate::aircall::presence::PresenceBook;
use crate::aircall::rate_limit::{RateLimitConfig, RateLimiter};
use crate::config::{Config, Credentials, Mode, ServerConfig};
use crate::contacts::aircall::ContactSearch;
use crate::contacts::{Contacts, ContactsError};
use crate::metrics::Metrics;
use crate::reload::{self, Rejection, RulesHandle, RulesPolicy, RulesWatcher, WatchConfig};
use crate::store::dispatch::{resume, spawn_takeover, StoreSink};
use crate::store::{Store, StoreError};

/// The shortest time between two directory refreshes asked for by
/// `user.created` / `user.deleted` webhooks (a burst costs one refresh).
const DIRECTORY_MIN_GAP: Duration = Duration::from_secs(10);

/// How often CSV contact files are checked for changes.
const CONTACTS_RELOAD: Duration = Duration::from_secs(1);

/// Longest pause between attempts of the first directory load.
const FIRST_LOAD_MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Why the service did not start. Each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the rules at {path} cannot be used ({}):\n{}", .rejection.reason, .rejection.rendered())]
    Rules {
        path: String,
        rejection: Box<Rejection>,
    },
    #[error(transparent)]
    State(#[from] StateError),
    #[error("cannot set up the Aircall client: {0}")]
    Client(#[from] ClientBuildError),
    #[error("Aircall refused the credentials at start-up (GET /v1/ping): {0}")]
    Credentials(ApiError),
    #[error("cannot watch the rules for changes: {0} (try `--watch poll`)")]
    Watch(#[from] notify::Error),
    #[error("cannot install the SIGHUP handler: {0}")]
    Signal(std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Contacts(#[from] ContactsError),
}

/// A started service: state, watcher and background tasks.
#[derive(Debug)]
pub struct App {
    state: AppState,
    watcher: Option<RulesWatcher>,
    background: Vec<JoinHandle<()>>,
    /// How long requests in flight may take to finish after the signal.
    grace: Duration,
    /// Timeouts and connection cap.
    server: ServerConfig,
}

impl App {
    /// Builds everything from `config` (inside a tokio runtime). In live
    /// mode the credentials are checked once with `GET /v1/ping`.
    pub async fn start(config: &Config) -> Result<App, StartError> {
        let mode = config.mode();
        if mode == Mode::Live && config.webhook_tokens.is_empty() {
            return Err(StateError::NoWebhookToken.into());
        }
        let metrics = Arc::new(Metrics::new());
        let policy = RulesPolicy {
            allow_empty: config.allow_empty_rules,
        };
        let rules = RulesHandle::load_with(&config.rules, Arc::clone(&metrics), policy).map_err(
            |rejection| StartError::Rules {
                path: config.rules.display().to_string(),
                rejection: Box::new(rejection),
            },
        )?;
        let client = match config.aircall.credentials() {
            Some(credentials) => Some(build_client(config, credentials, &metrics)?),
            None => None,
        };
        if let Some(client) = &client {
            check_credentials(client).await?;
        }
        // The state store before anything can decide: every acknowledged
        // webhook is recorded there first.
        let store = Store::open(&config.state, &config.store).await?;
        tracing::info!(
            state = %store.location(),
            replica = store.replica(),
            instance = store.instance(),
            "state store open"
        );
        let contacts = if config.contacts.sources.is_empty() {
            None
        } else {
            let search = client
                .clone()
                .map(|client| Arc::new(client) as Arc<dyn ContactSearch>);
            Some(Arc::new(Contacts::open(&config.contacts, search)?))
        };
        let directory = Arc::new(match &client {
            Some(client) => Directory::new(client.clone()),
            None => Directory::offline(),
        });
        let presence = Arc::new(PresenceBook::new(Arc::clone(&directory)));
        let dispatcher = Dispatcher::spawn(
            DispatchConfig {
                deadline: config.action_deadline,
                capacity: config.queue_capacity,
                workers: config.dispatch_workers,
                ..DispatchConfig::default()
            },
            client.clone(),
            Arc::clone(&directory),
            Arc::clone(&presence),
            Arc::new(StoreSink::new(
                store.clone(),
                Arc::new(LogSink::new(Arc::clone(&metrics))),
            )),
        );
        // What earlier runs (and replicas that are gone) decided but did
        // not carry out; on PostgreSQL, again whenever a replica dies.
        if let Err(error) = resume(&store, &dispatcher, chrono::Utc::now()).await {
            tracing::warn!(%error, "could not look for unfinished decisions");
        }
        let mut background = vec![store.spawn_pruner()];
        background.extend(spawn_takeover(&store, &dispatcher));
        if let Some(task) = contacts
            .as_ref()
            .and_then(|contacts| contacts.spawn_reloader(CONTACTS_RELOAD))
        {
            background.push(task);
        }
        if let Some(client) = &client {
            background.push(first_directory_load(Arc::clone(&directory)));
            background.push(
                directory.spawn_refresher(config.aircall.directory_refresh, DIRECTORY_MIN_GAP),
            );
            background.push(
                presence.spawn_refresher(client.clone(), config.aircall.availability_refresh),
            );
        }
        let state = AppState::new(StateParts {
            mode,
            rules: rules.clone(),
            dispatcher,
            directory,
            presence,
            metrics,
            webhook_tokens: config.webhook_tokens.clone(),
            admin_token: config.admin_token.clone(),
            dedupe_window: config.dedupe_window,
            store,
            contacts,
        })?;
        let watcher = reload::spawn_watcher(
            rules,
            WatchConfig {
                mode: config.watch,
                debounce: config.watch_debounce,
                poll_interval: config.poll_interval,
            },
        )?;
        match mode {
            Mode::DryRun => tracing::warn!(
                "DRY-RUN: no Aircall credentials in the config; decisions are logged as \"would transfer\" and nothing is sent to Aircall"
            ),
            Mode::Live => tracing::info!(
                base_url = config.aircall.base_url.as_str(),
                "live mode: decisions are sent to the Aircall API"
            ),
        }
        Ok(App {
            state,
            watcher: Some(watcher),
            background,
            grace: config.shutdown_grace,
            server: config.server,
        })
    }

    /// The shared state (for tests and for wiring extra tasks).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Reloads the rules on SIGHUP. Separate from [`App::start`] because a
    /// signal handler belongs to the whole process: the binary wants it,
    /// tests running several servers in one process usually do not.
    #[cfg(unix)]
    pub fn reload_on_sighup(&mut self) -> Result<(), StartError> {
        let task =
            reload::reload_on_sighup(self.state.rules().clone()).map_err(StartError::Signal)?;
        self.background.push(task);
        Ok(())
    }

    /// Serves on `listener` until `shutdown` completes, then stops taking
    /// requests, lets the dispatcher finish the actions still within their
    /// deadline, and stops the background tasks.
    pub async fn run<F>(mut self, listener: TcpListener, shutdown: F) -> std::io::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // Stop waiting for open connections some time after the signal:
        // a client that never finishes its request must not keep the
        // process (and the queued transfers) waiting.
        let grace = self.grace;
        let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            let _ = stopping.send(());
        };
        let limits = ConnectionLimits::from_config(&self.server);
        tracing::info!(
            max_connections = limits.max_connections,
            from = if self.server.max_connections.is_some() {
                "server.max_connections"
            } else {
                "the open-files limit"
            },
            header_read_timeout = ?limits.header_read_timeout,
            body_read_timeout = ?limits.body_read_timeout,
            idle_timeout = ?limits.idle_timeout,
            "accepting up to {} connections at once",
            limits.max_connections
        );
        let serving = serve(listener, self.state.clone(), limits, signal);
        tokio::pin!(serving);
        let served = tokio::select! {
            served = &mut serving => served,
            () = async {
                if stopped.await.is_ok() {
                    tokio::time::sleep(grace).await;
                } else {
                    std::future::pending::<()>().await;
                }
            } => {
                tracing::warn!(?grace, "connections still open after the grace period; closing them");
                Ok(())
            }
        };
        tracing::info!(
            queued = self.state.dispatcher().queue_depth(),
            "stopped accepting requests; finishing queued actions"
        );
        self.watcher.take();
        self.state.dispatcher().clone().shutdown().await;
        for task in self.background.drain(..) {
            task.abort();
        }
        // The outcomes of the last actions, then the pools.
        self.state.store().close().await;
        if let Some(contacts) = self.state.contacts() {
            contacts.close().await;
        }
        tracing::info!("shut down");
        served
    }
}

impl Drop for App {
    fn drop(&mut self) {
        for task in &self.background {
            task.abort();
        }
    }
}

fn build_client(
    config: &Config,
    credentials: Credentials,
    metrics: &Arc<Metrics>,
) -> Result<AircallClient, ClientBuildError> {
    let credentials = match credentials {
        Credentials::Basic { api_id, api_token } => client::Credentials::Basic {
            api_id,
            api_token: api_token.expose().to_owned(),
        },
        Credentials::Bearer(token) => client::Credentials::Bearer {
            token: token.expose().to_owned(),
        },
    };
    // Replicas share the company's budget: each takes its share (see the
    // `store.replicas` setting).
    let per_replica = (config.aircall.rate_limit_per_minute / config.store.replicas.max(1)).max(1);
    let rate_limit = RateLimitConfig::per_minute(per_replica);
    let client_config = ClientConfig {
        base_url: config.aircall.base_url.clone(),
        connect_timeout: config.aircall.timeouts.connect,
        request_timeout: config.aircall.timeouts.request,
        rate_limit: rate_limit.clone(),
        ..ClientConfig::new(credentials)
    };
    AircallClient::with_limiter(
        client_config,
        RateLimiter::new(rate_limit),
        Arc::new(MetricsObserver::new(Arc::clone(metrics))),
    )
}

/// `GET /v1/ping`. Credentials Aircall refuses, or a base URL that answers
/// like something else than Aircall's API, stop the start; an outage does
/// not (the service starts not ready and retries in the background).
async fn check_credentials(client: &AircallClient) -> Result<(), StartError> {
    match client.ping().await {
        Ok(()) => {
            tracing::info!("Aircall credentials accepted (GET /v1/ping)");
            Ok(())
        }
        Err(error @ (ApiError::Unauthorized { .. } | ApiError::Forbidden)) => {
            Err(StartError::Credentials(error))
        }
        Err(error @ ApiError::Status { code, .. }) if (400..500).contains(&code) && code != 429 => {
            Err(StartError::Credentials(error))
        }
        Err(error) => {
            tracing::warn!(%error, "could not check the Aircall credentials; starting anyway (not ready until the directory loads)");
            Ok(())
        }
    }
}

/// Loads the directory until it succeeds once, backing off; the periodic
/// refresher takes over from there.
fn first_directory_load(directory: Arc<Directory>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut pause = Duration::from_secs(1);
        loop {
            match directory.refresh().await {
                Ok(status) => {
                    tracing::info!(
                        users = status.users,
                        teams = status.teams,
                        tags = status.tags,
                        "Aircall directory loaded"
                    );
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?pause, "Aircall directory load failed");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(FIRST_LOAD_MAX_BACKOFF);
                }
            }
        }
    })
}
