//! The state store: the durable decision log, call history, per-call
//! claims, and retention.
//!
//! One [`Store`] over SQLite (the default: a file in WAL mode, created on
//! demand) or PostgreSQL (several replicas sharing one database). The
//! schema comes from sqlx migrations embedded in the binary
//! (`migrations/sqlite`, `migrations/postgres`), run at start.
//!
//! - Every acknowledged webhook gets a [`WebhookRecord`], committed before
//!   the acknowledgement ([`Store::record`]); commits are grouped by one
//!   writer task (see [`writer`]).
//! - A decidable `call.created` asks for a claim in the same transaction
//!   (`INSERT ... ON CONFLICT DO NOTHING`): exactly one delivery, on
//!   exactly one replica, gets it and acts; the others are duplicates.
//!   The claim names this process's instance (see [`lease`]), never just
//!   a replica name, which may repeat.
//! - Action outcomes arrive later ([`Store::record_outcome`]); a claim
//!   whose outcomes are not all in is unfinished, and [`Store::recover`]
//!   takes over those of instances that are gone (crashed, killed).
//! - `last_agent` reads the history ([`Store::last_agent`]; on SQLite not
//!   for a caller the `callers` filter says has none); `switchboard
//!   decisions` and `GET /decisions` read the log ([`Store::decisions`]).
//!
//! What it must not do: build SQL from input (every value is bound), or
//! answer a record before it is durable.

mod callers;
pub mod config;
pub mod dispatch;
pub mod history;
mod lease;
mod lookup;
pub mod query;
pub mod record;
mod sql;
mod sqlite_reads;
pub mod writer;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use config::{StateLocation, StoreConfig, SyncMode};
pub use query::{DecisionEntry, DecisionQuery};
pub use record::{
    Committed, ContactLookupRecord, Disposition, HistoryEntry, OutcomeRecord, RuleLabel,
    WebhookRecord,
};
pub use writer::WriterStats;

use crate::lang::{Action, Agent};
use record::{from_millis, to_millis};
use writer::{Command, SqliteWriter, WriterConfig};

/// Commands the writer's channel holds before senders wait.
const WRITER_QUEUE: usize = 16_384;

/// Rows one pruning statement deletes at most (keeps each transaction short).
const PRUNE_CHUNK: i64 = 5_000;

/// Why the store cannot do something. Messages name the store (never a
/// password) and what went wrong.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the state store {location}: {message}")]
    Open { location: String, message: String },
    #[error("cannot migrate the state store {location}: {message}")]
    Migrate { location: String, message: String },
    #[error("no state store at {0} (has `switchboard serve` run with this state yet?)")]
    Missing(String),
    #[error("state store write failed: {0}")]
    Write(String),
    #[error("state store read failed: {0}")]
    Read(String),
    #[error("the state store is closed")]
    Closed,
}

/// A new [`lease::new_instance_id`], or why the store cannot open without.
fn instance_id(location: &str) -> Result<String, StoreError> {
    lease::new_instance_id().map_err(|error| StoreError::Open {
        location: location.to_owned(),
        message: format!("no randomness for this process's instance id: {error}"),
    })
}

fn read_error(error: sqlx::Error) -> StoreError {
    StoreError::Read(error.to_string())
}

/// The engine and its pools.
#[derive(Debug, Clone)]
pub(crate) enum Db {
    /// One connection for the writer (SQLite has one writer anyway), a
    /// pool for readers (WAL lets them run beside it).
    Sqlite {
        write: SqlitePool,
        read: SqlitePool,
        /// The file, for the writer thread's own connection.
        path: PathBuf,
    },
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the pool readers use, for either
/// engine (the statements are the same text).
macro_rules! with_read_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            Db::Sqlite { read: $pool, .. } => $body,
            Db::Postgres($pool) => $body,
        }
    };
}

/// The same, with the pool that writes.
macro_rules! with_write_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            Db::Sqlite { write: $pool, .. } => $body,
            Db::Postgres($pool) => $body,
        }
    };
}

/// A decision that was claimed but whose actions are not all done.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingCall {
    pub call_id: i64,
    pub call_started_at: DateTime<Utc>,
    pub deadline_at: DateTime<Utc>,
    pub rule: Option<RuleLabel>,
    pub revision: String,
    /// The actions with no outcome yet, in the decision's order.
    pub actions: Vec<Action>,
}

/// What [`Store::recover`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recovery {
    /// Still within their deadline: to be carried out now.
    pub resume: Vec<PendingCall>,
    /// Past their deadline: marked expired (their actions too).
    pub expired: usize,
}

/// Rows removed by one pruning pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub webhooks: u64,
    pub outcomes: u64,
    pub claims: u64,
    pub history: u64,
}

/// A snapshot of the writer's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct StoreStats {
    pub batches: u64,
    pub records: u64,
    pub outcomes: u64,
    pub failed_batches: u64,
    pub largest_batch: u64,
    pub dropped_outcomes: u64,
    /// Mean records per batch (0 before the first).
    pub mean_batch: f64,
    /// Mean time to commit a batch, in microseconds.
    pub mean_commit_us: f64,
    /// `last_agent` lookups answered without a read: the caller surely
    /// has no history (SQLite; see `callers`).
    pub history_reads_skipped: u64,
}

/// Where commands for the writer go.
enum Writer {
    /// Committed by whoever finds no commit running.
    Sqlite(Arc<SqliteWriter>),
    /// To the writer task, through a bounded channel.
    Postgres(flume::Sender<Command>),
}

struct Inner {
    db: Db,
    location: StateLocation,
    replica: String,
    /// This process: the owner of its claims (see [`lease`]).
    instance: String,
    /// PostgreSQL: this instance's lease (absent on a read-only store).
    lease: Option<lease::Lease>,
    /// The task renewing it.
    heartbeat: std::sync::Mutex<Option<JoinHandle<()>>>,
    /// PostgreSQL: whether the claims made before claims had owners were
    /// looked for (once, at the first recovery).
    unowned_looked_for: AtomicBool,
    config: StoreConfig,
    writer: Option<Writer>,
    /// PostgreSQL: batched `last_agent` reads (absent on a read-only
    /// store, which reads one by one).
    lookups: Option<mpsc::Sender<lookup::Lookup>>,
    /// SQLite: `last_agent` reads on the caller's thread, batched when
    /// they overlap (absent on a read-only store).
    reads: Option<Arc<sqlite_reads::SqliteLookups>>,
    /// SQLite: the callers that may have a history, so that the others'
    /// `last_agent` needs no read (absent on a read-only store).
    callers: Option<callers::CallersWithHistory>,
    history_reads_skipped: AtomicU64,
    /// SQLite: the lock that makes this process the file's only writer
    /// (see [`lock_sqlite`]), released by [`Store::close`].
    sqlite_lock: std::sync::Mutex<Option<std::fs::File>>,
    stats: Arc<WriterStats>,
    /// The PostgreSQL writer's task (SQLite's has none).
    writer_task: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // A store dropped without `close`: its lease lapses by itself.
        if let Some(heartbeat) = writer::lock(&self.heartbeat).take() {
            heartbeat.abort();
        }
    }
}

/// The state store. Cheap to clone; clones share pools and writer.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("location", &self.inner.location)
            .field("replica", &self.inner.replica)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating when needed) the store, runs the migrations and
    /// starts the writer. Call inside a tokio runtime.
    pub async fn open(location: &StateLocation, config: &StoreConfig) -> Result<Store, StoreError> {
        let shown = location.to_string();
        let (db, sqlite_lock) = match location {
            StateLocation::Sqlite(path) => {
                let db = open_sqlite(path, config, true).await?;
                (db, Some(lock_sqlite(path)?))
            }
            StateLocation::Postgres(url) => (open_postgres(url, config).await?, None),
        };
        let migrated = match &db {
            Db::Sqlite { write, .. } => sqlx::migrate!("./migrations/sqlite").run(write).await,
            Db::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await,
        };
        migrated.map_err(|error| StoreError::Migrate {
            location: shown.clone(),
            message: error.to_string(),
        })?;
        let replica = config.replica_name();
        let instance = instance_id(&shown)?;
        // The lease before any claim: a claim whose owner has no live
        // lease is taken over by the other replicas.
        let lease = match &db {
            Db::Sqlite { .. } => None,
            Db::Postgres(pool) => {
                let lease = lease::Lease {
                    pool: pool.clone(),
                    instance: instance.clone(),
                    replica: replica.clone(),
                    expiry: config.lease_expiry,
                };
                lease.renew().await.map_err(|error| StoreError::Open {
                    location: shown.clone(),
                    message: format!("cannot take this replica's lease: {error}"),
                })?;
                Some(lease)
            }
        };
        let heartbeat = lease.as_ref().map(lease::Lease::spawn_heartbeat);
        let stats = Arc::new(WriterStats::default());
        let writer_config = WriterConfig {
            batch: config.commit_batch.max(1),
            wait: config.commit_wait,
            replica: replica.clone(),
            instance: instance.clone(),
        };
        let (writer, task) = match &db {
            Db::Sqlite { path, .. } => {
                let conn =
                    open_sqlite_writer(path, config).map_err(|message| StoreError::Open {
                        location: shown.clone(),
                        message,
                    })?;
                let writer = SqliteWriter::new(conn, writer_config, Arc::clone(&stats));
                spawn_checkpointer(path, config.wal_limit_bytes(), Arc::downgrade(&writer))
                    .map_err(|message| StoreError::Open {
                        location: shown.clone(),
                        message,
                    })?;
                (Writer::Sqlite(writer), None)
            }
            Db::Postgres(pool) => {
                let (sender, receiver) = flume::bounded(WRITER_QUEUE);
                let task = tokio::spawn(writer::run_postgres(
                    pool.clone(),
                    receiver,
                    writer_config,
                    Arc::clone(&stats),
                ));
                (Writer::Postgres(sender), Some(task))
            }
        };
        let (lookups, reads, callers) = match &db {
            Db::Sqlite { path, .. } => {
                let callers = open_rusqlite(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                    .and_then(|conn| callers::CallersWithHistory::load(&conn))
                    .map_err(|error| StoreError::Open {
                        location: shown.clone(),
                        message: format!("cannot read the call history: {error}"),
                    })?;
                (
                    None,
                    Some(sqlite_reads::SqliteLookups::new(path)),
                    Some(callers),
                )
            }
            Db::Postgres(pool) => {
                // Ends when the store is dropped (its sender with it).
                let (lookups, lookup_receiver) = mpsc::channel(WRITER_QUEUE);
                tokio::spawn(lookup::run(pool.clone(), lookup_receiver));
                (Some(lookups), None, None)
            }
        };
        Ok(Store {
            inner: Arc::new(Inner {
                db,
                location: location.clone(),
                replica,
                instance,
                lease,
                heartbeat: std::sync::Mutex::new(heartbeat),
                unowned_looked_for: AtomicBool::new(false),
                config: config.clone(),
                writer: Some(writer),
                lookups,
                reads,
                callers,
                history_reads_skipped: AtomicU64::new(0),
                sqlite_lock: std::sync::Mutex::new(sqlite_lock),
                stats,
                writer_task: std::sync::Mutex::new(task),
            }),
        })
    }

    /// Opens an existing store for reading only (`switchboard decisions`):
    /// no migration, no writer; a missing SQLite file is an error rather
    /// than a new empty store.
    pub async fn open_existing(location: &StateLocation) -> Result<Store, StoreError> {
        let config = StoreConfig {
            pool_size: 2,
            ..StoreConfig::default()
        };
        let db = match location {
            StateLocation::Sqlite(path) => {
                if !path.exists() {
                    return Err(StoreError::Missing(path.display().to_string()));
                }
                open_sqlite(path, &config, false).await?
            }
            StateLocation::Postgres(url) => open_postgres(url, &config).await?,
        };
        Ok(Store {
            inner: Arc::new(Inner {
                db,
                location: location.clone(),
                replica: config.replica_name(),
                // Reads only: it never claims anything.
                instance: instance_id(&location.to_string())?,
                lease: None,
                heartbeat: std::sync::Mutex::new(None),
                unowned_looked_for: AtomicBool::new(true),
                config,
                writer: None,
                lookups: None,
                reads: None,
                callers: None,
                history_reads_skipped: AtomicU64::new(0),
                sqlite_lock: std::sync::Mutex::new(None),
                stats: Arc::new(WriterStats::default()),
                writer_task: std::sync::Mutex::new(None),
            }),
        })
    }

    pub fn location(&self) -> &StateLocation {
        &self.inner.location
    }

    /// This replica's name, as written in records and claims.
    pub fn replica(&self) -> &str {
        &self.inner.replica
    }

    /// This process's instance id, the owner of the claims it takes:
    /// `PID-RANDOM`, new at every start.
    pub fn instance(&self) -> &str {
        &self.inner.instance
    }

    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// How often this instance renews its lease (PostgreSQL), and so how
    /// often it looks for the calls of replicas that are gone.
    pub fn lease_renewal(&self) -> Duration {
        lease::renew_every(self.inner.config.lease_expiry)
    }

    /// Hands `command` to the writer (on SQLite this may commit it, and
    /// whatever else is queued, before returning).
    async fn submit(&self, command: Command) -> Result<(), StoreError> {
        match self.inner.writer.as_ref().ok_or(StoreError::Closed)? {
            Writer::Sqlite(writer) => writer.submit(command),
            Writer::Postgres(sender) => sender
                .send_async(command)
                .await
                .map_err(|_| StoreError::Closed),
        }
    }

    /// Writes a record (and takes its claim, if it asks for one); returns
    /// once it is durable. An error means it is not: do not acknowledge.
    pub async fn record(&self, record: WebhookRecord) -> Result<Committed, StoreError> {
        if let (Some(callers), Some(entry)) = (&self.inner.callers, &record.history) {
            // Before the row can be committed: a `last_agent` that comes
            // after the commit must not skip its read.
            callers.note(&entry.caller);
        }
        let (reply, answer) = oneshot::channel();
        self.submit(Command::Record {
            record: Box::new(record),
            reply,
        })
        .await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Gives a call's claim back, durably: its webhook is being answered
    /// 503 and Aircall's next delivery must be able to claim it again.
    pub async fn release_claim(&self, call_id: i64) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Command::Release { call_id, reply }).await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Notes, durably, that `call_id`'s transfer is about to be sent: if
    /// the process dies before its outcome is recorded, the instance that
    /// takes its claims over records it as unknown instead of sending it
    /// again. `Ok(false)`: not noted, as this instance no longer holds the
    /// claim (it was taken for gone and another took the claim over): do
    /// not send it.
    pub async fn mark_sending(&self, call_id: i64) -> Result<bool, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Command::Sending { call_id, reply }).await?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Queues an action outcome without waiting for its commit. When the
    /// writer refuses it (PostgreSQL's queue is full, or the store is
    /// closed) the outcome is dropped, logged and counted: the decision
    /// itself is already durable.
    pub fn record_outcome(&self, outcome: OutcomeRecord) {
        let call_id = outcome.call_id;
        let accepted = match &self.inner.writer {
            None => return,
            Some(Writer::Sqlite(writer)) => writer.submit(Command::Outcome(outcome)).is_ok(),
            Some(Writer::Postgres(sender)) => sender.try_send(Command::Outcome(outcome)).is_ok(),
        };
        if !accepted {
            self.inner
                .stats
                .dropped_outcomes
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                call_id,
                "action outcome not recorded: the store's queue is full or closed"
            );
        }
    }

    /// Returns once everything queued before is committed.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Command::Flush(reply)).await?;
        answer.await.map_err(|_| StoreError::Closed)
    }

    /// The agent of `caller`'s most recent answered call within the
    /// history window before `now`.
    pub async fn last_agent(
        &self,
        caller: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Agent>, StoreError> {
        let window = chrono::Duration::from_std(self.inner.config.history_window)
            .unwrap_or(chrono::Duration::MAX);
        let since = now
            .checked_sub_signed(window)
            .unwrap_or(DateTime::UNIX_EPOCH);
        if let Some(reads) = &self.inner.reads {
            let surely_none = self
                .inner
                .callers
                .as_ref()
                .is_some_and(|callers| !callers.may_have_history(caller));
            if surely_none {
                self.inner
                    .history_reads_skipped
                    .fetch_add(1, Ordering::Relaxed);
                return Ok(None);
            }
            let row = reads.last_agent(caller, to_millis(since)).await?;
            return Ok(agent_of(row));
        }
        if let Some(lookups) = &self.inner.lookups {
            // Shares one query with the lookups waiting beside it.
            let (reply, answer) = oneshot::channel();
            lookups
                .send(lookup::Lookup {
                    caller: caller.to_owned(),
                    since_ms: to_millis(since),
                    reply,
                })
                .await
                .map_err(|_| StoreError::Closed)?;
            return Ok(agent_of(answer.await.map_err(|_| StoreError::Closed)??));
        }
        let row: Option<AgentRow> = with_read_pool!(&self.inner.db, |pool| {
            sqlx::query_as(sql::LAST_AGENT)
                .bind(caller)
                .bind(to_millis(since))
                .fetch_optional(pool)
                .await
                .map_err(read_error)?
        });
        Ok(agent_of(row))
    }

    /// Takes over the claimed calls whose actions are not all done of the
    /// instances that are surely gone, and carries on from where they
    /// stopped: calls still within their deadline are returned to be
    /// carried out; the others, and their missing actions, are marked
    /// expired. Never the claims of a live instance, this one's included.
    ///
    /// Gone, on SQLite: every other instance (one process writes the
    /// file). On PostgreSQL: instances without a live lease; and, at the
    /// first recovery only, claims made before claims had owners by a
    /// replica of this one's name (the rule before leases).
    pub async fn recover(&self, now: DateTime<Utc>) -> Result<Recovery, StoreError> {
        let taken = self.take_over().await?;
        let instance = self.inner.instance.as_str();
        let rows = with_read_pool!(&self.inner.db, |pool| {
            let mut pending = Vec::with_capacity(taken.len());
            for &call_id in &taken {
                let row: Option<PendingRow> = sqlx::query_as(sql::PENDING_CLAIM)
                    .bind(call_id)
                    .bind(instance)
                    .fetch_optional(pool)
                    .await
                    .map_err(read_error)?;
                let Some(row) = row else { continue };
                let outcomes: Vec<OutcomeRow> = sqlx::query_as(sql::OUTCOMES_OF_CALL)
                    .bind(call_id)
                    .fetch_all(pool)
                    .await
                    .map_err(read_error)?;
                let outcomes: Vec<(String, String)> =
                    outcomes.into_iter().map(|o| (o.2, o.4)).collect();
                pending.push((pending_call(row), outcomes));
            }
            pending
        });
        let mut recovery = Recovery::default();
        for ((mut call, actions_json, sending), outcomes) in rows {
            let Some(actions) = actions_json.as_ref().and_then(record::actions_from_json) else {
                continue;
            };
            call.actions = remaining_actions(actions, &outcomes);
            if sending {
                // The transfer request may have reached Aircall before the
                // process died: never send it again; say so.
                let before = call.actions.len();
                call.actions
                    .retain(|action| !matches!(action, Action::Transfer { .. }));
                if call.actions.len() < before {
                    self.record_outcome(OutcomeRecord {
                        call_id: call.call_id,
                        recorded_at: now,
                        action: "transfer".to_owned(),
                        target: None,
                        status: "unknown".to_owned(),
                        reason: Some(
                            "the service stopped while the transfer was being sent; not sent again"
                                .to_owned(),
                        ),
                        attempts: 1,
                        latency: Duration::ZERO,
                    });
                    self.flush().await?;
                }
            }
            if call.actions.is_empty() {
                self.set_claim_state(call.call_id, "done").await?;
            } else if call.deadline_at > now {
                recovery.resume.push(call);
            } else {
                for action in &call.actions {
                    self.record_outcome(OutcomeRecord {
                        call_id: call.call_id,
                        recorded_at: now,
                        action: action_kind(action).to_owned(),
                        target: None,
                        status: "expired".to_owned(),
                        reason: Some(
                            "the service stopped before carrying it out, and the call is past its deadline"
                                .to_owned(),
                        ),
                        attempts: 0,
                        latency: Duration::ZERO,
                    });
                }
                self.flush().await?;
                self.set_claim_state(call.call_id, "expired").await?;
                recovery.expired += 1;
            }
        }
        Ok(recovery)
    }

    /// Makes this instance the owner of the unfinished claims of the
    /// instances that are gone (see [`Store::recover`]); returns their
    /// call ids, in order.
    async fn take_over(&self) -> Result<Vec<i64>, StoreError> {
        let write_error = |error: sqlx::Error| StoreError::Write(error.to_string());
        let instance = self.inner.instance.as_str();
        let mut taken: Vec<(i64,)> = match &self.inner.db {
            Db::Sqlite { write, .. } => sqlx::query_as(sql::SQLITE_TAKE_OVER)
                .bind(instance)
                .fetch_all(write)
                .await
                .map_err(write_error)?,
            Db::Postgres(pool) => {
                let gone: Vec<String> = sqlx::query_scalar(sql::GONE_OWNERS)
                    .bind(instance)
                    .fetch_all(pool)
                    .await
                    .map_err(read_error)?;
                let mut taken: Vec<(i64,)> = Vec::new();
                if !gone.is_empty() {
                    taken = sqlx::query_as(sql::TAKE_OVER_CLAIMS)
                        .bind(instance)
                        .bind(&gone)
                        .fetch_all(pool)
                        .await
                        .map_err(write_error)?;
                    if !taken.is_empty() {
                        tracing::info!(
                            calls = taken.len(),
                            instances = gone.join(", "),
                            "took over the unfinished calls of replica instances that are gone"
                        );
                    }
                }
                if !self.inner.unowned_looked_for.swap(true, Ordering::SeqCst) {
                    let unowned: Vec<(i64,)> = sqlx::query_as(sql::TAKE_OVER_UNOWNED)
                        .bind(instance)
                        .bind(self.inner.replica.as_str())
                        .fetch_all(pool)
                        .await
                        .map_err(write_error)?;
                    taken.extend(unowned);
                }
                taken
            }
        };
        taken.sort_unstable();
        Ok(taken.into_iter().map(|(call_id,)| call_id).collect())
    }

    async fn set_claim_state(&self, call_id: i64, state: &str) -> Result<(), StoreError> {
        with_write_pool!(&self.inner.db, |pool| {
            sqlx::query(sql::SET_CLAIM_STATE)
                .bind(call_id)
                .bind(state)
                .bind(self.inner.instance.as_str())
                .execute(pool)
                .await
                .map_err(|error| StoreError::Write(error.to_string()))?;
        });
        Ok(())
    }

    /// Deletes records, outcomes and claims older than the retention, and
    /// history older than the history window, in short transactions.
    pub async fn prune(&self, now: DateTime<Utc>) -> Result<PruneReport, StoreError> {
        let age = |d: Duration| {
            let d = chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
            to_millis(now.checked_sub_signed(d).unwrap_or(DateTime::UNIX_EPOCH))
        };
        let before = age(self.inner.config.retention);
        let history_before = age(self.inner.config.history_window);
        let mut report = PruneReport::default();
        // Chunk by chunk: the claims of a chunk's calls, then its records.
        loop {
            report.claims += self.prune_chunk(sql::PRUNE_CLAIMS, before).await?;
            let deleted = self.prune_chunk(sql::PRUNE_WEBHOOKS, before).await?;
            report.webhooks += deleted;
            if deleted < PRUNE_CHUNK.unsigned_abs() {
                break;
            }
            // Let the writer in between chunks.
            tokio::task::yield_now().await;
        }
        if let Db::Postgres(pool) = &self.inner.db {
            // Each start leaves one lease behind: those long over go with
            // the records of their time.
            sqlx::query(sql::PRUNE_LEASES)
                .bind(before)
                .execute(pool)
                .await
                .map_err(|error| StoreError::Write(error.to_string()))?;
        }
        for (statement, cutoff, count) in [
            (sql::PRUNE_OUTCOMES, before, &mut report.outcomes),
            (sql::PRUNE_HISTORY, history_before, &mut report.history),
        ] {
            loop {
                let deleted = self.prune_chunk(statement, cutoff).await?;
                *count += deleted;
                if deleted < PRUNE_CHUNK.unsigned_abs() {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        Ok(report)
    }

    /// Runs one pruning statement (`$1` the cutoff, `$2` the chunk size);
    /// returns the rows it deleted.
    async fn prune_chunk(&self, statement: &str, cutoff: i64) -> Result<u64, StoreError> {
        Ok(with_write_pool!(&self.inner.db, |pool| {
            sqlx::query(statement)
                .bind(cutoff)
                .bind(PRUNE_CHUNK)
                .execute(pool)
                .await
                .map_err(|error| StoreError::Write(error.to_string()))?
                .rows_affected()
        }))
    }

    /// Prunes every `prune_interval` (first right away) until aborted.
    pub fn spawn_pruner(&self) -> JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(store.inner.config.prune_interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match store.prune(Utc::now()).await {
                    Ok(report) if report != PruneReport::default() => tracing::info!(
                        webhooks = report.webhooks,
                        outcomes = report.outcomes,
                        claims = report.claims,
                        history = report.history,
                        "pruned old records from the state store"
                    ),
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "pruning the state store failed"),
                }
            }
        })
    }

    /// Reads decisions, newest first.
    pub async fn decisions(&self, query: &DecisionQuery) -> Result<Vec<DecisionEntry>, StoreError> {
        query::run(&self.inner.db, query).await
    }

    /// The writer's counters.
    pub fn stats(&self) -> StoreStats {
        let s = &self.inner.stats;
        let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let batches = get(&s.batches);
        let records = get(&s.records) + get(&s.outcomes);
        #[expect(clippy::cast_precision_loss, reason = "statistics")]
        let (mean_batch, mean_commit_us) = if batches == 0 {
            (0.0, 0.0)
        } else {
            (
                records as f64 / batches as f64,
                get(&s.commit_micros) as f64 / batches as f64,
            )
        };
        StoreStats {
            batches,
            records: get(&s.records),
            outcomes: get(&s.outcomes),
            failed_batches: get(&s.failed_batches),
            largest_batch: get(&s.largest_batch),
            dropped_outcomes: get(&s.dropped_outcomes),
            mean_batch,
            mean_commit_us,
            history_reads_skipped: get(&self.inner.history_reads_skipped),
        }
    }

    /// Commits what is queued, stops the writer, ends the lease (what is
    /// left unfinished is for the other replicas to take over at once)
    /// and closes the pools. Other clones can no longer write afterwards.
    pub async fn close(&self) {
        let _ = self.flush().await;
        let heartbeat = self
            .inner
            .heartbeat
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(heartbeat) = heartbeat {
            heartbeat.abort();
            if let Some(lease) = &self.inner.lease {
                if let Err(error) = lease.end().await {
                    tracing::warn!(%error, "could not end the replica lease; it lapses by itself");
                }
            }
        }
        if let Some(Writer::Sqlite(writer)) = &self.inner.writer {
            writer.close();
        }
        let task = self
            .inner
            .writer_task
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            task.abort();
        }
        match &self.inner.db {
            Db::Sqlite { write, read, .. } => {
                read.close().await;
                write.close().await;
            }
            Db::Postgres(pool) => pool.close().await,
        }
        // Another process may write the file now.
        drop(
            self.inner
                .sqlite_lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take(),
        );
    }
}

/// Makes this process the only writer of the SQLite file at `path`: takes
/// an exclusive lock on `PATH.lock`, held until the store is closed (or
/// the process ends, however it ends). Two `serve`s writing one file would
/// each miss the other's call history (see `callers`); replicas share
/// PostgreSQL instead. A file of its own, not the database: closing a
/// second descriptor of the database would drop SQLite's own locks.
fn lock_sqlite(path: &Path) -> Result<std::fs::File, StoreError> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let error = |message: String| StoreError::Open {
        location: format!("sqlite:{}", path.display()),
        message,
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| error(format!("cannot open {}: {e}", lock_path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(error(format!(
            "another process is writing it ({} is locked); run one `serve` per SQLite \
             file, or share a PostgreSQL store between replicas",
            lock_path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(error(format!("cannot lock {}: {e}", lock_path.display())))
        }
    }
}

/// `(agent_id, agent_email)` of an answered call in the history.
pub(crate) type AgentRow = (Option<i64>, Option<String>);

/// An agent from a history row, if the row names one.
fn agent_of(row: Option<AgentRow>) -> Option<Agent> {
    row.map(|(id, email)| Agent {
        id: id.and_then(|id| u64::try_from(id).ok()),
        email,
    })
    .filter(|agent| agent.id.is_some() || agent.email.is_some())
}

/// Which kind an action is, as outcomes name it.
pub fn action_kind(action: &Action) -> &'static str {
    match action {
        Action::Transfer { .. } => "transfer",
        Action::Keep { .. } => "keep",
        Action::Tag { .. } => "tag",
        Action::Comment { .. } => "comment",
    }
}

/// The actions still owed: each recorded outcome (other than a
/// duplicate's) accounts for the first action of its kind.
fn remaining_actions(actions: Vec<Action>, outcomes: &[(String, String)]) -> Vec<Action> {
    let mut done: Vec<&str> = outcomes
        .iter()
        .filter(|(_, status)| status != "duplicate")
        .map(|(kind, _)| kind.as_str())
        .collect();
    actions
        .into_iter()
        // `keep` needs no carrying out (and gets no outcome row).
        .filter(|action| !matches!(action, Action::Keep { .. }))
        .filter(|action| {
            let kind = action_kind(action);
            match done.iter().position(|d| *d == kind) {
                Some(at) => {
                    done.swap_remove(at);
                    false
                }
                None => true,
            }
        })
        .collect()
}

/// `call_id, deadline_at, actions, rule_name, rule_file, rule_line,
/// revision, call_started_at, state` of [`sql::PENDING_CLAIM`].
type PendingRow = (
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    String,
);

/// The columns of [`sql::OUTCOMES_OF_CALL`].
pub(crate) type OutcomeRow = (
    i64,
    i64,
    String,
    Option<String>,
    String,
    Option<String>,
    i64,
    i64,
);

fn pending_call(row: PendingRow) -> (PendingCall, Option<serde_json::Value>, bool) {
    let (call_id, deadline_at, actions, rule_name, rule_file, rule_line, revision, started, state) =
        row;
    let actions = actions.and_then(|text| serde_json::from_str(&text).ok());
    (
        PendingCall {
            call_id,
            call_started_at: started.map_or(DateTime::UNIX_EPOCH, from_millis),
            deadline_at: from_millis(deadline_at),
            rule: rule_line.map(|line| RuleLabel {
                name: rule_name,
                file: rule_file,
                line: u32::try_from(line).unwrap_or(0),
            }),
            revision: revision.unwrap_or_default(),
            actions: Vec::new(),
        },
        actions,
        state == "sending",
    )
}

/// How often the WAL is copied back into the database file. Often: each
/// checkpoint ends with fsyncs, and the writer's appends stall behind an
/// fsync for as long as it has dirty data to push out, so small frequent
/// checkpoints keep the acknowledgement tail short (measured at 5,000
/// webhooks/s: p99 6.6 ms every 500 ms, 2.7-3.2 ms every 100 ms, 1.8-2.3
/// ms every 25 ms; every 10 ms costs more CPU than it saves).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(25);

/// Checkpoints the WAL on a thread and connection of its own, off the
/// commit path: PASSIVE never waits for the writer or readers, it copies
/// what it can. (A plain thread: through an sqlx pool each checkpoint was
/// a hand-off to the connection's thread and back.)
///
/// Under sustained load PASSIVE never catches up with the writer, so the
/// WAL is never started over and grows without bound (1.4 GB after 11 s
/// at 18,000 webhooks/s). Once it holds more than `limit_bytes`, this
/// asks the writer to restart the WAL at its next commit, and stays out
/// of its way until that is done (see `writer::checkpoint_all`): a
/// RESTART checkpoint from here would have to win the write lock from a
/// writer that takes it back after every commit, and starves. Ends when
/// the writer is closed or dropped.
fn spawn_checkpointer(
    path: &Path,
    limit_bytes: u64,
    writer: std::sync::Weak<SqliteWriter>,
) -> Result<(), String> {
    let conn = open_rusqlite(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|error| error.to_string())?;
    // A checkpoint copies frames from the WAL; it needs no page cache.
    conn.pragma_update(None, "cache_size", -64)
        .map_err(|error| error.to_string())?;
    let page_size: i64 = conn
        .query_row("PRAGMA page_size", [], |row| row.get(0))
        .map_err(|error| error.to_string())?;
    // Each frame is a page and a 24-byte header.
    let frame_bytes = u64::try_from(page_size).unwrap_or(4096) + 24;
    std::thread::Builder::new()
        .name("switchboard-checkpoint".to_owned())
        .spawn(move || loop {
            std::thread::sleep(CHECKPOINT_EVERY);
            let Some(writer) = writer.upgrade().filter(|writer| !writer.is_closed()) else {
                return;
            };
            if writer.restart_pending() {
                // The writer restarts the WAL at its next commit; a
                // checkpoint beside it would make that fail.
                continue;
            }
            // (busy, frames in the WAL, frames copied back)
            let checkpoint = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                row.get::<_, i64>(1)
            });
            match checkpoint {
                Ok(frames) => {
                    let wal_bytes = u64::try_from(frames).unwrap_or(0) * frame_bytes;
                    if wal_bytes > limit_bytes {
                        tracing::debug!(wal_bytes, "WAL over its limit: the writer restarts it");
                        writer.restart_wal_soon();
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, "WAL checkpoint failed; retried later");
                }
            }
        })
        .map(drop)
        .map_err(|error| format!("cannot start the checkpoint thread: {error}"))
}

async fn open_sqlite(path: &Path, config: &StoreConfig, create: bool) -> Result<Db, StoreError> {
    let shown = format!("sqlite:{}", path.display());
    let open_error = |message: String| StoreError::Open {
        location: shown.clone(),
        message,
    };
    if create {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|error| open_error(format!("cannot create {}: {error}", dir.display())))?;
        }
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(create)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(SQLITE_BUSY_TIMEOUT);
    let options = sqlite_pragmas(config)
        .into_iter()
        .fold(options, |options, (name, value)| {
            options.pragma(name, value)
        })
        // Statements are few and repeated: keep them all prepared.
        .statement_cache_capacity(64);
    // The writer never checkpoints itself (a checkpoint on the commit
    // path stalls every waiting acknowledgement for tens of ms); a
    // background task does it beside it (see `spawn_checkpointer`).
    // No ping before each acquire (sqlx's default): a connection to a
    // local file does not go stale like a network one, and the ping is
    // one more round trip to the connection's thread per group commit
    // and per batch of lookups.
    let write = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options.clone().pragma(WRITER_PRAGMA.0, WRITER_PRAGMA.1))
        .await
        .map_err(|error| open_error(error.to_string()))?;
    let read = SqlitePoolOptions::new()
        .max_connections(config.pool_size.max(1))
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options.read_only(!create))
        .await
        .map_err(|error| open_error(error.to_string()))?;
    Ok(Db::Sqlite {
        write,
        read,
        path: path.to_owned(),
    })
}

const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The settings of every connection to a SQLite store: the sqlx pools'
/// and the writer's.
fn sqlite_pragmas(config: &StoreConfig) -> [(&'static str, String); 2] {
    let synchronous = match config.sync {
        SyncMode::Normal => "NORMAL",
        SyncMode::Full => "FULL",
    };
    [
        ("synchronous", synchronous.to_owned()),
        ("journal_size_limit", config.wal_limit_bytes().to_string()),
    ]
}

/// And of the connections that write: they never checkpoint themselves
/// (see `open_sqlite`).
const WRITER_PRAGMA: (&str, &str) = ("wal_autocheckpoint", "0");

/// A `rusqlite` connection to a store that `open_sqlite` opened (and
/// migrated): used by one thread at a time (no SQLite mutex), waiting up
/// to [`SQLITE_BUSY_TIMEOUT`] for a lock like the sqlx pools.
fn open_rusqlite(
    path: &Path,
    access: rusqlite::OpenFlags,
) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        access | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(SQLITE_BUSY_TIMEOUT)?;
    Ok(conn)
}

/// The writer's connection to a store that `open_sqlite` opened (and
/// migrated), with the same settings as the sqlx pools.
fn open_sqlite_writer(path: &Path, config: &StoreConfig) -> Result<rusqlite::Connection, String> {
    let conn = open_rusqlite(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)
        .map_err(|error| error.to_string())?;
    for (name, value) in sqlite_pragmas(config) {
        conn.pragma_update(None, name, value)
            .map_err(|error| error.to_string())?;
    }
    conn.pragma_update(None, WRITER_PRAGMA.0, WRITER_PRAGMA.1)
        .map_err(|error| error.to_string())?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

async fn open_postgres(url: &str, config: &StoreConfig) -> Result<Db, StoreError> {
    let shown = crate::config::redact_url(url);
    let options = PgConnectOptions::from_str(url).map_err(|error| StoreError::Open {
        location: shown.clone(),
        message: error.to_string(),
    })?;
    // The writer holds one connection per batch; readers share the rest.
    let pool = PgPoolOptions::new()
        .max_connections(config.pool_size.max(1) + 1)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(|error| StoreError::Open {
            location: shown,
            message: error.to_string(),
        })?;
    Ok(Db::Postgres(pool))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_actions_skip_those_with_outcomes() {
        let actions = vec![
            Action::Transfer {
                to: crate::lang::Target::Number("+18001234567".into()),
                fallbacks: vec![],
                skipped: vec![],
            },
            Action::Tag { tag: "a".into() },
            Action::Tag { tag: "b".into() },
        ];
        let outcomes = vec![
            ("tag".to_owned(), "sent".to_owned()),
            ("transfer".to_owned(), "duplicate".to_owned()),
        ];
        let left = remaining_actions(actions, &outcomes);
        assert_eq!(left.len(), 2);
        assert!(matches!(left[0], Action::Transfer { .. }));
        assert_eq!(left[1], Action::Tag { tag: "b".into() });
    }
}
