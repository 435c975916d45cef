//! Group commit: one task writes everything, many requests wait on it.
//!
//! A webhook may be acknowledged only once its record is durable, and one
//! commit per webhook would cap intake at the disk's commit rate. So every
//! write goes to this task through a channel; it takes the first command,
//! collects whatever else arrives within `commit_wait` (or until
//! `commit_batch` commands), runs them all in ONE transaction, and only
//! then answers each waiting request. Claims are taken in call-id order so
//! that two replicas committing overlapping batches on PostgreSQL lock the
//! same rows in the same order (no deadlock).
//!
//! What it must not do: answer a record before its transaction committed,
//! or let a failed batch look successful (every waiter gets the error, so
//! the webhook is answered 503 and Aircall delivers it again).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::record::{
    to_micros, to_millis, Committed, Disposition, HistoryEntry, OutcomeRecord, WebhookRecord,
};
use super::{sql, Db, StoreError};

/// The batch's statements, on one transaction's connection; evaluates to,
/// for each record in order, whether it got its claim (`None`: it asked
/// for none). Each kind of row is written by one statement per batch (see
/// [`sql::BatchSql`]). A macro rather than a generic function: the two
/// engines' connections share the code but not a convenient trait bound.
macro_rules! write_batch {
    ($conn:expr, $replica:expr, $batch:expr, $sql:expr) => {{
        async {
            let conn = $conn;
            let replica: &str = $replica;
            let batch: &Vec<Command> = $batch;
            let statements: &sql::BatchSql = $sql;
            let rows = BatchRows::new(batch);
            let mut claims: Vec<Option<bool>> = rows
                .records
                .iter()
                .map(|record| (record.claim.is_some() && record.call_id.is_some()).then_some(false))
                .collect();
            if !rows.claim_order.is_empty() {
                let won: Vec<(i64,)> = sqlx::query_as(statements.claims)
                    .bind(rows.claims_json())
                    .bind(replica)
                    .fetch_all(&mut *conn)
                    .await?;
                let mut won: Vec<i64> = won.into_iter().map(|(id,)| id).collect();
                won.sort_unstable();
                for &(index, call_id) in &rows.claim_order {
                    // The first record of each winning call takes it.
                    if let Ok(at) = won.binary_search(&call_id) {
                        claims[index] = Some(true);
                        won.remove(at);
                    }
                }
            }
            if !rows.records.is_empty() {
                sqlx::query(statements.webhooks)
                    .bind(rows.webhooks_json(&claims))
                    .bind(replica)
                    .execute(&mut *conn)
                    .await?;
            }
            if let Some(history) = rows.history_json() {
                sqlx::query(statements.history)
                    .bind(history)
                    .execute(&mut *conn)
                    .await?;
            }
            if !rows.outcomes.is_empty() {
                sqlx::query(statements.outcomes)
                    .bind(rows.outcomes_json())
                    .bind(replica)
                    .execute(&mut *conn)
                    .await?;
            }
            if let Some(counts) = rows.counts_json() {
                sqlx::query(statements.count)
                    .bind(counts)
                    .execute(&mut *conn)
                    .await?;
            }
            // The transfers about to be sent, after a crash never sent
            // again: one statement for the batch.
            if let Some(sending) = rows.sending_json() {
                sqlx::query(statements.sending)
                    .bind(sending)
                    .execute(&mut *conn)
                    .await?;
            }
            for command in batch {
                if let Command::Release { call_id, .. } = command {
                    sqlx::query(sql::RELEASE_CLAIM)
                        .bind(*call_id)
                        .bind(replica)
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query(sql::MARK_REJECTED)
                        .bind(*call_id)
                        .bind(replica)
                        .execute(&mut *conn)
                        .await?;
                }
            }
            Ok::<Vec<Option<bool>>, sqlx::Error>(claims)
        }
        .await
    }};
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
}

impl<'a> BatchRows<'a> {
    fn new(batch: &'a [Command]) -> BatchRows<'a> {
        let mut records = Vec::new();
        let mut outcomes = Vec::new();
        let mut sending = Vec::new();
        for command in batch {
            match command {
                Command::Record { record, .. } => records.push(&**record),
                Command::Outcome(outcome) => outcomes.push(outcome),
                Command::Sending { call_id, .. } => sending.push(*call_id),
                Command::Release { .. } | Command::Flush(_) => {}
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
        }
    }

    fn claims_json(&self) -> String {
        let rows: Vec<_> = self
            .claim_order
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
            .collect();
        json(&rows)
    }

    fn webhooks_json(&self, claims: &[Option<bool>]) -> String {
        let rows: Vec<_> = self
            .records
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
            .collect();
        json(&rows)
    }

    /// The newest event per call (an upsert may not touch a row twice in
    /// one statement).
    fn history_json(&self) -> Option<String> {
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
        let rows: Vec<_> = history
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
            .collect();
        Some(json(&rows))
    }

    fn outcomes_json(&self) -> String {
        let rows: Vec<_> = self
            .outcomes
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
            .collect();
        json(&rows)
    }

    fn sending_json(&self) -> Option<String> {
        (!self.sending.is_empty()).then(|| json(&self.sending))
    }

    /// Outcomes per call, counted against their claims; a "duplicate"
    /// outcome belongs to a second job for the call, not to the decision.
    fn counts_json(&self) -> Option<String> {
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
        Some(json(&counts))
    }
}

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
    /// Note that a call's transfer is about to be sent; answer once committed.
    Sending {
        call_id: i64,
        reply: oneshot::Sender<Result<(), StoreError>>,
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
    pub(crate) replica: String,
}

/// Runs until every sender is gone, then returns (after a last batch).
pub(crate) async fn run(
    db: Db,
    mut receiver: mpsc::Receiver<Command>,
    config: WriterConfig,
    stats: Arc<WriterStats>,
) {
    let mut batch = Vec::with_capacity(config.batch);
    while let Some(first) = receiver.recv().await {
        let someone_waits = matches!(first, Command::Record { .. } | Command::Sending { .. });
        batch.push(first);
        let until = Instant::now() + config.wait;
        while batch.len() < config.batch {
            match receiver.try_recv() {
                Ok(command) => batch.push(command),
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {
                    // Only a waiting request is worth delaying a commit
                    // for: more records may share its fsync.
                    if !someone_waits || config.wait.is_zero() {
                        break;
                    }
                    match tokio::time::timeout_at(until, receiver.recv()).await {
                        Ok(Some(command)) => batch.push(command),
                        Ok(None) | Err(_) => break,
                    }
                }
            }
        }
        execute(&db, &config.replica, &mut batch, &stats).await;
    }
}

/// Runs one batch in one transaction and answers everyone.
async fn execute(db: &Db, replica: &str, batch: &mut Vec<Command>, stats: &WriterStats) {
    let started = Instant::now();
    let size = batch.len() as u64;
    let result = match db {
        Db::Sqlite { write, .. } => match write.begin().await {
            Ok(mut tx) => match write_batch!(&mut *tx, replica, &*batch, &sql::SQLITE_BATCH) {
                Ok(claims) => tx.commit().await.map(|()| claims),
                Err(error) => Err(error),
            },
            Err(error) => Err(error),
        },
        Db::Postgres(pool) => match pool.begin().await {
            Ok(mut tx) => match write_batch!(&mut *tx, replica, &*batch, &sql::POSTGRES_BATCH) {
                Ok(claims) => tx.commit().await.map(|()| claims),
                Err(error) => Err(error),
            },
            Err(error) => Err(error),
        },
    };
    stats.batches.fetch_add(1, Ordering::Relaxed);
    stats.largest_batch.fetch_max(size, Ordering::Relaxed);
    stats.commit_micros.fetch_add(
        u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    match result {
        Ok(claims) => {
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
                    Command::Release { reply, .. } | Command::Sending { reply, .. } => {
                        let _ = reply.send(Ok(()));
                    }
                    Command::Flush(reply) => {
                        let _ = reply.send(());
                    }
                }
            }
        }
        Err(error) => {
            stats.failed_batches.fetch_add(1, Ordering::Relaxed);
            let message = error.to_string();
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
                    Command::Release { reply, .. } | Command::Sending { reply, .. } => {
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
