//! Group commit: one writer writes everything, many requests wait on it.
//!
//! A webhook may be acknowledged only once its record is durable, and one
//! commit per webhook would cap intake at the disk's commit rate. So every
//! write goes to the writer (on SQLite, a task spawned by whoever finds
//! none on its way: see [`SqliteWriter`]; on PostgreSQL a task, through a
//! channel); it takes the first command,
//! collects whatever else arrives within `commit_wait` (or until
//! `commit_batch` commands), runs them all in ONE transaction, and only
//! then answers each waiting request. Claims are taken in call-id order so
//! that two replicas committing overlapping batches on PostgreSQL lock the
//! same rows in the same order (no deadlock). Claims are taken in the
//! name of this process's instance (see `lease`), and a "sending" mark is
//! only set by the instance that holds the claim.
//!
//! What it must not do: answer a record before its transaction committed,
//! or let a failed batch look successful (every waiter gets the error, so
//! the webhook is answered 503 and Aircall delivers it again).

use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::{PgConnection, PgPool};
use tokio::sync::oneshot;

use super::record::{
    to_micros, to_millis, Committed, Disposition, HistoryEntry, OutcomeRecord, WebhookRecord,
};
use super::{sql, StoreError};

/// What a committed batch granted.
struct Granted {
    /// For each record in order, whether it got its claim (`None`: it
    /// asked for none).
    claims: Vec<Option<bool>>,
    /// The calls whose "sending" mark was set (this instance holds their
    /// claims), in order.
    marked: Vec<i64>,
}

/// A batch on PostgreSQL, inside the transaction `conn` is in. Each kind
/// of row is written by one statement per batch (see [`sql::BatchSql`]).
async fn write_postgres_batch(
    conn: &mut PgConnection,
    who: &WriterConfig,
    batch: &[Command],
) -> Result<Granted, sqlx::Error> {
    let statements = &sql::POSTGRES_BATCH;
    let replica = who.replica.as_str();
    let rows = BatchRows::new(batch);
    let mut claims = rows.unclaimed();
    if !rows.claim_order.is_empty() {
        let won: Vec<(i64,)> = sqlx::query_as(statements.claims)
            .bind(json(&rows.claim_rows()))
            .bind(replica)
            .bind(who.instance.as_str())
            .fetch_all(&mut *conn)
            .await?;
        rows.settle_claims(&mut claims, won.into_iter().map(|(id,)| id).collect());
    }
    for statement in rows.statements(statements, &claims) {
        let query = sqlx::query(statement.sql).bind(statement.rows);
        let query = if statement.binds_replica {
            query.bind(replica)
        } else {
            query
        };
        query.execute(&mut *conn).await?;
    }
    // The transfers about to be sent, after a crash never sent again.
    let mut marked = Vec::new();
    if !rows.sending.is_empty() {
        let rows: Vec<(i64,)> = sqlx::query_as(statements.sending)
            .bind(json(&rows.sending))
            .bind(who.instance.as_str())
            .fetch_all(&mut *conn)
            .await?;
        marked = rows.into_iter().map(|(id,)| id).collect();
        marked.sort_unstable();
    }
    for &call_id in &rows.released {
        sqlx::query(sql::RELEASE_CLAIM)
            .bind(call_id)
            .bind(who.instance.as_str())
            .execute(&mut *conn)
            .await?;
        sqlx::query(sql::MARK_REJECTED)
            .bind(call_id)
            .bind(replica)
            .execute(&mut *conn)
            .await?;
    }
    Ok(Granted { claims, marked })
}

/// The same batch on SQLite, through the writer thread's own synchronous
/// connection: no hand-off to another thread per statement, which is what
/// an async driver costs on SQLite and what dominated a commit's CPU.
/// In-process, a statement costs no round trip, so each row is bound and
/// executed on its own (cached) statement: cheaper than encoding the
/// batch as JSON and taking it apart again in SQL, which cost a fifth of
/// the server's CPU under load.
fn write_sqlite_batch(
    conn: &mut rusqlite::Connection,
    who: &WriterConfig,
    batch: &[Command],
) -> rusqlite::Result<Granted> {
    let statements = &sql::SQLITE_ROW;
    let (replica, instance) = (who.replica.as_str(), who.instance.as_str());
    // IMMEDIATE: take the write lock up front, so a concurrent writer
    // (pruning, recovery) makes this wait in the busy handler instead of
    // failing halfway through.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let rows = BatchRows::new(batch);
    let mut claims = rows.unclaimed();
    if !rows.claim_order.is_empty() {
        let mut claim = tx.prepare_cached(statements.claim)?;
        let mut won = Vec::with_capacity(rows.claim_order.len());
        for (call_id, claimed_at, deadline_at, action_count, state) in rows.claim_rows() {
            // `ON CONFLICT DO NOTHING`: one row changed if the claim is won.
            let changed = claim.execute((
                call_id,
                claimed_at,
                replica,
                deadline_at,
                action_count,
                state,
                instance,
            ))?;
            if changed == 1 {
                won.push(call_id);
            }
        }
        rows.settle_claims(&mut claims, won);
    }
    if !rows.records.is_empty() {
        let webhooks = rows.webhook_rows(&claims).into_iter().map(|row| {
            (
                row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9, row.10,
                row.11, row.12, row.13, row.14, replica,
            )
        });
        execute_each(&tx, statements.webhook, webhooks)?;
    }
    if let Some(history) = rows.history_rows() {
        execute_each(&tx, statements.history, history)?;
    }
    if !rows.outcomes.is_empty() {
        let outcomes = rows.outcome_rows().into_iter().map(|row| {
            (
                row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, replica,
            )
        });
        execute_each(&tx, statements.outcome, outcomes)?;
    }
    if let Some(counts) = rows.counts() {
        execute_each(&tx, statements.count, counts)?;
    }
    // The transfers about to be sent, after a crash never sent again.
    let mut marked = Vec::new();
    if !rows.sending.is_empty() {
        let mut sending = tx.prepare_cached(statements.sending)?;
        for &call_id in &rows.sending {
            if sending.execute((call_id, instance))? == 1 {
                marked.push(call_id);
            }
        }
    }
    for &call_id in &rows.released {
        tx.prepare_cached(sql::RELEASE_CLAIM)?
            .execute(rusqlite::named_params! { "$1": call_id, "$2": instance })?;
        tx.prepare_cached(sql::MARK_REJECTED)?
            .execute(rusqlite::named_params! { "$1": call_id, "$2": replica })?;
    }
    tx.commit()?;
    Ok(Granted { claims, marked })
}

/// Executes `sql` once per row, on one cached statement.
fn execute_each<P: rusqlite::Params>(
    tx: &rusqlite::Transaction<'_>,
    sql: &str,
    rows: impl IntoIterator<Item = P>,
) -> rusqlite::Result<()> {
    let mut statement = tx.prepare_cached(sql)?;
    for row in rows {
        statement.execute(row)?;
    }
    Ok(())
}

/// One statement of a batch and what it binds.
struct BatchStatement {
    sql: &'static str,
    /// `$1`: the rows, as one JSON array.
    rows: String,
    /// Whether it takes the replica as `$2`.
    binds_replica: bool,
}

/// A batch's rows, ready to be encoded as the JSON arrays the statements
/// expand.
struct BatchRows<'a> {
    records: Vec<&'a WebhookRecord>,
    /// `(record index, call id)` of the records asking for a claim, in
    /// call-id order: the same lock order on every replica.
    claim_order: Vec<(usize, i64)>,
    outcomes: Vec<&'a OutcomeRecord>,
    /// Calls whose transfer is about to be sent, in call-id order.
    sending: Vec<i64>,
    /// Calls whose claims are given back.
    released: Vec<i64>,
}

impl<'a> BatchRows<'a> {
    fn new(batch: &'a [Command]) -> BatchRows<'a> {
        let mut records = Vec::new();
        let mut outcomes = Vec::new();
        let mut sending = Vec::new();
        let mut released = Vec::new();
        for command in batch {
            match command {
                Command::Record { record, .. } => records.push(&**record),
                Command::Outcome(outcome) => outcomes.push(outcome),
                Command::Sending { call_id, .. } => sending.push(*call_id),
                Command::Release { call_id, .. } => released.push(*call_id),
                Command::Flush(_) => {}
            }
        }
        sending.sort_unstable();
        let mut claim_order: Vec<(usize, i64)> = records
            .iter()
            .enumerate()
            .filter_map(|(index, record)| match (&record.claim, record.call_id) {
                (Some(_), Some(call_id)) => Some((index, call_id)),
                _ => None,
            })
            .collect();
        claim_order.sort_by_key(|&(index, call_id)| (call_id, index));
        BatchRows {
            records,
            claim_order,
            outcomes,
            sending,
            released,
        }
    }

    /// The statements that write the batch's rows after its claims and
    /// before its "sending" marks, in order, each with its rows as one
    /// JSON array (`$1`); statements for which the batch has no rows are
    /// left out. (PostgreSQL: one round
    /// trip per statement, whatever the batch's size.)
    fn statements(
        &self,
        statements: &sql::BatchSql,
        claims: &[Option<bool>],
    ) -> Vec<BatchStatement> {
        let statement = |sql, rows, binds_replica| BatchStatement {
            sql,
            rows,
            binds_replica,
        };
        let mut out = Vec::with_capacity(5);
        if !self.records.is_empty() {
            out.push(statement(
                statements.webhooks,
                json(&self.webhook_rows(claims)),
                true,
            ));
        }
        if let Some(history) = self.history_rows() {
            out.push(statement(statements.history, json(&history), false));
        }
        if !self.outcomes.is_empty() {
            out.push(statement(
                statements.outcomes,
                json(&self.outcome_rows()),
                true,
            ));
        }
        if let Some(counts) = self.counts() {
            out.push(statement(statements.count, json(&counts), false));
        }
        out
    }

    /// For each record: `Some(false)` if it asks for a claim (not won
    /// yet), `None` if it asks for none.
    fn unclaimed(&self) -> Vec<Option<bool>> {
        self.records
            .iter()
            .map(|record| (record.claim.is_some() && record.call_id.is_some()).then_some(false))
            .collect()
    }

    /// Marks the records whose claims the store granted (`won`: the call
    /// ids the claims statement returned).
    fn settle_claims(&self, claims: &mut [Option<bool>], mut won: Vec<i64>) {
        won.sort_unstable();
        for &(index, call_id) in &self.claim_order {
            // The first record of each winning call takes it.
            if let Ok(at) = won.binary_search(&call_id) {
                claims[index] = Some(true);
                won.remove(at);
            }
        }
    }

    /// The claims asked for, in call-id order.
    fn claim_rows(&self) -> Vec<ClaimRow> {
        self.claim_order
            .iter()
            .filter_map(|&(index, call_id)| {
                let record = self.records.get(index)?;
                let claim = record.claim.as_ref()?;
                let deadline = claim.call_started_at
                    + chrono::Duration::from_std(claim.deadline)
                        .unwrap_or(chrono::Duration::zero());
                // Nothing to carry out (a `keep`): done already.
                let state = if claim.action_count == 0 {
                    "done"
                } else {
                    "pending"
                };
                Some((
                    call_id,
                    to_millis(record.received_at),
                    to_millis(deadline),
                    claim.action_count,
                    state,
                ))
            })
            .collect()
    }

    /// The records, a record whose claim was lost marked a duplicate.
    fn webhook_rows(&self, claims: &[Option<bool>]) -> Vec<WebhookRow<'a>> {
        self.records
            .iter()
            .zip(claims)
            .map(|(record, claimed)| {
                let disposition = match claimed {
                    Some(false) => Disposition::Duplicate,
                    _ => record.disposition,
                };
                let rule = record.rule.as_ref();
                let contact = record.contact.as_ref();
                (
                    to_millis(record.received_at),
                    record.event.as_str(),
                    record.call_id,
                    record.caller.as_deref(),
                    record.number.as_deref(),
                    disposition.as_str(),
                    record.revision.as_deref(),
                    rule.and_then(|r| r.name.as_deref()),
                    rule.and_then(|r| r.file.as_deref()),
                    rule.map(|r| r.line),
                    record.actions.as_ref().map(ToString::to_string),
                    record.call_started_at.map(to_millis),
                    contact.map(|c| c.status.as_str()),
                    contact.and_then(|c| c.detail.as_deref()),
                    record.decide_time.map(to_micros),
                )
            })
            .collect()
    }

    /// The newest event per call (an upsert may not touch a row twice in
    /// one statement).
    fn history_rows(&self) -> Option<Vec<HistoryRow<'a>>> {
        let mut history: Vec<&HistoryEntry> = self
            .records
            .iter()
            .filter_map(|record| record.history.as_ref())
            .collect();
        if history.is_empty() {
            return None;
        }
        history.sort_by_key(|entry| (entry.call_id, std::cmp::Reverse(entry.event_at)));
        history.dedup_by_key(|entry| entry.call_id);
        Some(
            history
                .iter()
                .map(|entry| {
                    (
                        entry.call_id,
                        entry.caller.as_str(),
                        entry.agent_id.and_then(|id| i64::try_from(id).ok()),
                        entry.agent_email.as_deref(),
                        to_millis(entry.answered_at),
                        to_millis(entry.event_at),
                    )
                })
                .collect(),
        )
    }

    fn outcome_rows(&self) -> Vec<OutcomeRow<'a>> {
        self.outcomes
            .iter()
            .map(|outcome| {
                (
                    outcome.call_id,
                    to_millis(outcome.recorded_at),
                    outcome.action.as_str(),
                    outcome.target.as_deref(),
                    outcome.status.as_str(),
                    outcome.reason.as_deref(),
                    outcome.attempts,
                    to_micros(outcome.latency),
                )
            })
            .collect()
    }

    /// Outcomes per call, counted against their claims, as `(call_id,
    /// n)`; a "duplicate" outcome belongs to a second job for the call,
    /// not to the decision.
    fn counts(&self) -> Option<Vec<(i64, i64)>> {
        let mut counts: Vec<(i64, i64)> = self
            .outcomes
            .iter()
            .filter(|o| o.status != "duplicate")
            .map(|o| (o.call_id, 1))
            .collect();
        if counts.is_empty() {
            return None;
        }
        counts.sort_unstable();
        counts.dedup_by(|next, first| {
            let same = next.0 == first.0;
            if same {
                first.1 += next.1;
            }
            same
        });
        Some(counts)
    }
}

/// `(call_id, claimed_at, deadline_at, action_count, state)`; the replica
/// and the instance are bound beside.
type ClaimRow = (i64, i64, i64, u32, &'static str);

/// The 15 columns of a webhook record in [`sql::BatchSql::webhooks`]'
/// order; the replica is bound beside.
type WebhookRow<'a> = (
    i64,
    &'a str,
    Option<i64>,
    Option<&'a str>,
    Option<&'a str>,
    &'static str,
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a str>,
    Option<u32>,
    Option<String>,
    Option<i64>,
    Option<&'a str>,
    Option<&'a str>,
    Option<i64>,
);

/// `(call_id, caller, agent_id, agent_email, answered_at, event_at)`.
type HistoryRow<'a> = (i64, &'a str, Option<i64>, Option<&'a str>, i64, i64);

/// `(call_id, recorded_at, action, target, status, reason, attempts,
/// latency_us)`; the replica is bound beside.
type OutcomeRow<'a> = (
    i64,
    i64,
    &'a str,
    Option<&'a str>,
    &'a str,
    Option<&'a str>,
    u32,
    i64,
);

/// Rows as JSON; plain data, so encoding cannot fail (an empty array if
/// it somehow did, which writes nothing rather than something wrong).
fn json<T: serde::Serialize>(rows: &T) -> String {
    serde_json::to_string(rows).unwrap_or_else(|_| "[]".to_owned())
}

/// What the writer is asked to do.
pub(crate) enum Command {
    /// Write a record (and take its claim); answer once committed.
    Record {
        record: Box<WebhookRecord>,
        reply: oneshot::Sender<Result<Committed, StoreError>>,
    },
    /// Write an action outcome; nobody waits for it.
    Outcome(OutcomeRecord),
    /// Give a claim back (its webhook was answered 503); answer once committed.
    Release {
        call_id: i64,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Note that a call's transfer is about to be sent; answer once
    /// committed: whether it was noted (false: this instance no longer
    /// holds the call's claim).
    Sending {
        call_id: i64,
        reply: oneshot::Sender<Result<bool, StoreError>>,
    },
    /// Answer once everything sent before is committed.
    Flush(oneshot::Sender<()>),
}

/// Counters of the writer, for `/status` and the load figures.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub batches: AtomicU64,
    pub records: AtomicU64,
    pub outcomes: AtomicU64,
    pub failed_batches: AtomicU64,
    pub largest_batch: AtomicU64,
    pub dropped_outcomes: AtomicU64,
    /// Total time spent committing, in microseconds.
    pub commit_micros: AtomicU64,
}

pub(crate) struct WriterConfig {
    pub(crate) batch: usize,
    pub(crate) wait: Duration,
    /// The name written in records.
    pub(crate) replica: String,
    /// This process: the owner of the claims it takes.
    pub(crate) instance: String,
}

/// The writer's end of the channel.
pub(crate) type Receiver = flume::Receiver<Command>;

/// The PostgreSQL writer: a task. Runs until every sender is gone, then
/// returns (after a last batch).
pub(crate) async fn run_postgres(
    pool: PgPool,
    receiver: Receiver,
    config: WriterConfig,
    stats: Arc<WriterStats>,
) {
    let mut batch = Vec::with_capacity(config.batch);
    while let Ok(first) = receiver.recv_async().await {
        let lingers = batch_lingers(&first, &config);
        batch.push(first);
        let until = tokio::time::Instant::now() + config.wait;
        while batch.len() < config.batch {
            let next = match receiver.try_recv() {
                Ok(command) => Some(command),
                Err(_) if lingers => tokio::time::timeout_at(until, receiver.recv_async())
                    .await
                    .ok()
                    .and_then(Result::ok),
                Err(_) => None,
            };
            let Some(command) = next else { break };
            batch.push(command);
        }
        let started = Instant::now();
        let result = match pool.begin().await {
            Ok(mut tx) => match write_postgres_batch(&mut tx, &config, &batch).await {
                Ok(claims) => tx.commit().await.map(|()| claims),
                Err(error) => Err(error),
            },
            Err(error) => Err(error),
        };
        answer(
            &mut batch,
            result.map_err(|e| e.to_string()),
            started,
            &stats,
        );
    }
}

/// SQLite's writer. It has no thread or task of its own: whoever submits
/// a command while no commit is running spawns the committer, a task that
/// first yields once, then takes what is queued (one batch), commits it on
/// the one write connection and answers everyone.
///
/// The yield is what makes batches: the task runs again only after the
/// runtime has polled the sockets and run every task that was ready, so
/// each request already read by then is decided and queued, and shares
/// the commit. Idle, that is a few microseconds; under load it gathers
/// what arrived meanwhile with no timer and no tuning (measured at full
/// speed: 27 records per commit and 30% less CPU per webhook than
/// committing on the spot, which made batches of 2-3). Commands that
/// arrive during a commit form the next batch.
pub(crate) struct SqliteWriter {
    queue: Mutex<Vec<Command>>,
    /// Set from when a committer is spawned until it is done; taken by
    /// `swap`, so there is at most one.
    committing: AtomicBool,
    /// Set by [`SqliteWriter::close`]: later commands are refused.
    closed: AtomicBool,
    /// Set while a task waits to commit commands no webhook waits for.
    timer_armed: AtomicBool,
    /// Locked only by the committer, so never contended.
    conn: Mutex<rusqlite::Connection>,
    /// Set by the checkpointer when the WAL has outgrown its limit.
    restart_wal: AtomicBool,
    config: WriterConfig,
    stats: Arc<WriterStats>,
}

impl SqliteWriter {
    pub(crate) fn new(
        conn: rusqlite::Connection,
        config: WriterConfig,
        stats: Arc<WriterStats>,
    ) -> Arc<SqliteWriter> {
        Arc::new(SqliteWriter {
            queue: Mutex::new(Vec::new()),
            committing: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            timer_armed: AtomicBool::new(false),
            conn: Mutex::new(conn),
            restart_wal: AtomicBool::new(false),
            config,
            stats,
        })
    }

    /// Queues `command` and, unless a commit is already on its way (it
    /// will see the command), spawns the committer. Must run inside a
    /// tokio runtime.
    pub(crate) fn submit(self: &Arc<Self>, command: Command) -> Result<(), StoreError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(StoreError::Closed);
        }
        let in_background = runs_in_background(&command);
        lock(&self.queue).push(command);
        if in_background {
            self.commit_soon();
        } else {
            self.commit_queued();
        }
        Ok(())
    }

    /// Commits within [`BACKGROUND_LINGER`], unless a webhook's commit
    /// takes the queue first.
    fn commit_soon(self: &Arc<Self>) {
        if self.timer_armed.swap(true, Ordering::SeqCst) {
            return;
        }
        let writer = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(BACKGROUND_LINGER).await;
            writer.timer_armed.store(false, Ordering::SeqCst);
            writer.commit_queued();
        });
    }

    /// Refuses further commands (those queued are committed first, here
    /// and now unless a commit is already on its way).
    pub(crate) fn close(self: &Arc<Self>) {
        self.closed.store(true, Ordering::SeqCst);
        if !self.committing.swap(true, Ordering::SeqCst) {
            self.commit_batch();
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Asks for the WAL to be started over at the next commit; see
    /// [`checkpoint_all`].
    pub(crate) fn restart_wal_soon(&self) {
        self.restart_wal.store(true, Ordering::SeqCst);
    }

    /// Spawns the committer unless one is on its way (it will see what
    /// was queued).
    fn commit_queued(self: &Arc<Self>) {
        if self.committing.swap(true, Ordering::SeqCst) {
            return;
        }
        // With `commit_wait` set, a batch led by a waiting command waits
        // that long for more (a slow disk's fsync shared by more records).
        let linger = lock(&self.queue)
            .first()
            .is_some_and(|first| batch_lingers(first, &self.config))
            .then_some(self.config.wait);
        let writer = Arc::clone(self);
        tokio::spawn(async move {
            match linger {
                Some(wait) => tokio::time::sleep(wait).await,
                // See the type's documentation: batches form here.
                None => tokio::task::yield_now().await,
            }
            writer.commit_batch();
        });
    }

    /// Commits one batch from the queue; the caller holds the flag, which
    /// this releases.
    fn commit_batch(self: &Arc<Self>) {
        let mut batch = {
            let mut queue = lock(&self.queue);
            let take = queue.len().min(self.config.batch);
            queue.drain(..take).collect::<Vec<_>>()
        };
        if !batch.is_empty() {
            let started = Instant::now();
            let mut conn = lock(&self.conn);
            let restarting = self.restart_wal.load(Ordering::SeqCst) && checkpoint_all(&conn);
            let result = write_sqlite_batch(&mut conn, &self.config, &batch);
            if restarting {
                // Done, or (rarely) not, if a reader held the WAL at
                // that instant: then the checkpointer finds it over its
                // limit again and asks anew.
                self.restart_wal.store(false, Ordering::SeqCst);
            }
            drop(conn);
            answer(
                &mut batch,
                result.map_err(|e| e.to_string()),
                started,
                &self.stats,
            );
        }
        self.committing.store(false, Ordering::SeqCst);
        // A command queued after the batch was taken found the flag set
        // and left it to this committer: spawn the next one.
        if !lock(&self.queue).is_empty() {
            self.commit_queued();
        }
    }

    /// Whether a WAL restart is asked for and not yet done: the
    /// checkpointer then leaves the WAL to the writer (see
    /// [`checkpoint_all`]).
    pub(crate) fn restart_pending(&self) -> bool {
        self.restart_wal.load(Ordering::SeqCst)
    }
}

/// Starts the WAL over, the one way that works under sustained writes: a
/// RESTART checkpoint copies what the background checkpoints have not yet
/// copied back and waits for readers to leave the WAL; then the next
/// commit, the batch right after it on the same connection, writes its
/// first frame at the start of the WAL (truncated to `journal_size_limit`).
/// Nothing may come between: the checkpointer skips its ticks while a
/// restart is pending, as a checkpoint running beside either step makes
/// it fail without a word (SQLite does not wait for the checkpoint lock,
/// and the reset needs the WAL's reader slots). Returns whether the
/// checkpoint finished. It holds up one batch for a small copy and its
/// fsyncs, once per `wal_limit_mb` of WAL.
fn checkpoint_all(conn: &rusqlite::Connection) -> bool {
    // The first column is 1 when the checkpoint could not finish.
    match conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |row| {
        row.get::<_, i64>(0)
    }) {
        Ok(busy) => busy == 0,
        Err(error) => {
            tracing::warn!(%error, "restarting the WAL failed; retried after the next commit");
            false
        }
    }
}

/// A poisoned lock only means a panic elsewhere mid-batch; the data it
/// guards (a queue, a connection) is still sound.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How long a command that no acknowledgement waits for may wait for
/// others to share its commit. Each commit costs about 100 µs of CPU
/// (every page it changed is written to the WAL), most of it the same
/// whether it holds one row or fifty; at 5,000 transfers/s the outcomes
/// and "sending" marks would otherwise be commits of their own, taking
/// CPU from the webhooks being acknowledged. A transfer is sent up to this
/// much later, which no caller notices; a webhook's record, which its
/// acknowledgement waits for, takes whatever is queued along at once.
const BACKGROUND_LINGER: Duration = Duration::from_millis(2);

/// Whether nobody's acknowledgement waits for `command`: an outcome (no
/// one waits) or a "sending" mark (a dispatcher worker waits, before the
/// transfer goes out).
fn runs_in_background(command: &Command) -> bool {
    matches!(command, Command::Outcome(_) | Command::Sending { .. })
}

/// Whether to wait `commit_wait` for more commands before committing a
/// batch that starts with `first`: only a waiting request is worth
/// delaying a commit for (more records may share its fsync).
fn batch_lingers(first: &Command, config: &WriterConfig) -> bool {
    matches!(first, Command::Record { .. } | Command::Sending { .. }) && !config.wait.is_zero()
}

/// Answers everyone in a committed (or failed) batch and counts it.
fn answer(
    batch: &mut Vec<Command>,
    result: Result<Granted, String>,
    started: Instant,
    stats: &WriterStats,
) {
    let size = batch.len() as u64;
    stats.batches.fetch_add(1, Ordering::Relaxed);
    stats.largest_batch.fetch_max(size, Ordering::Relaxed);
    stats.commit_micros.fetch_add(
        u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    match result {
        Ok(Granted { claims, marked }) => {
            let mut claims = claims.into_iter();
            for command in batch.drain(..) {
                match command {
                    Command::Record { reply, .. } => {
                        stats.records.fetch_add(1, Ordering::Relaxed);
                        let claimed = claims.next().flatten();
                        // The requester may have gone (client disconnected):
                        // the record is written all the same.
                        let _ = reply.send(Ok(Committed { claimed }));
                    }
                    Command::Outcome(_) => {
                        stats.outcomes.fetch_add(1, Ordering::Relaxed);
                    }
                    Command::Release { reply, .. } => {
                        let _ = reply.send(Ok(()));
                    }
                    Command::Sending { call_id, reply } => {
                        let _ = reply.send(Ok(marked.binary_search(&call_id).is_ok()));
                    }
                    Command::Flush(reply) => {
                        let _ = reply.send(());
                    }
                }
            }
        }
        Err(message) => {
            stats.failed_batches.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                error = message.as_str(),
                commands = size,
                "state store write failed"
            );
            for command in batch.drain(..) {
                match command {
                    Command::Record { reply, .. } => {
                        let _ = reply.send(Err(StoreError::Write(message.clone())));
                    }
                    Command::Outcome(outcome) => {
                        stats.dropped_outcomes.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            call_id = outcome.call_id,
                            status = outcome.status.as_str(),
                            "action outcome not recorded"
                        );
                    }
                    Command::Release { reply, .. } => {
                        let _ = reply.send(Err(StoreError::Write(message.clone())));
                    }
                    Command::Sending { reply, .. } => {
                        let _ = reply.send(Err(StoreError::Write(message.clone())));
                    }
                    Command::Flush(reply) => {
                        let _ = reply.send(());
                    }
                }
            }
        }
    }
}
