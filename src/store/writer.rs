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

use super::record::{to_micros, to_millis, Committed, Disposition, OutcomeRecord, WebhookRecord};
use super::{sql, Db, StoreError};

/// The batch's statements, on one transaction's connection; evaluates to,
/// for each record in order, whether it got its claim (`None`: it asked
/// for none). A macro rather than a generic function: the two engines'
/// connections share the statements but not a convenient trait bound.
macro_rules! write_batch {
    ($conn:expr, $replica:expr, $batch:expr) => {{
        async {
            let conn = $conn;
            let replica: &str = $replica;
            let batch: &Vec<Command> = $batch;
            let records: Vec<&WebhookRecord> = batch
                .iter()
                .filter_map(|command| match command {
                    Command::Record { record, .. } => Some(&**record),
                    _ => None,
                })
                .collect();
            // Claims first, in call-id order; a record's position is kept
            // to answer it.
            let mut claim_order: Vec<(usize, i64)> = records
                .iter()
                .enumerate()
                .filter_map(|(index, record)| match (&record.claim, record.call_id) {
                    (Some(_), Some(call_id)) => Some((index, call_id)),
                    _ => None,
                })
                .collect();
            claim_order.sort_by_key(|&(index, call_id)| (call_id, index));
            let mut claims: Vec<Option<bool>> = vec![None; records.len()];
            for &(index, call_id) in &claim_order {
                let record = records[index];
                let Some(claim) = &record.claim else { continue };
                let deadline = claim.call_started_at
                    + chrono::Duration::from_std(claim.deadline)
                        .unwrap_or(chrono::Duration::zero());
                let done = sqlx::query(sql::INSERT_CLAIM)
                    .bind(call_id)
                    .bind(to_millis(record.received_at))
                    .bind(replica)
                    .bind(to_millis(deadline))
                    .bind(i64::from(claim.action_count))
                    .execute(&mut *conn)
                    .await?;
                claims[index] = Some(done.rows_affected() == 1);
            }
            let mut index = 0usize;
            for command in batch.iter() {
                match command {
                    Command::Record { record, .. } => {
                        let disposition = match claims[index] {
                            Some(false) => Disposition::Duplicate,
                            _ => record.disposition,
                        };
                        index += 1;
                        let rule = record.rule.as_ref();
                        let actions = record.actions.as_ref().map(ToString::to_string);
                        let contact = record.contact.as_ref();
                        sqlx::query(sql::INSERT_WEBHOOK)
                            .bind(to_millis(record.received_at))
                            .bind(record.event.as_str())
                            .bind(record.call_id)
                            .bind(record.caller.as_deref())
                            .bind(record.number.as_deref())
                            .bind(disposition.as_str())
                            .bind(record.revision.as_deref())
                            .bind(rule.and_then(|r| r.name.as_deref()))
                            .bind(rule.and_then(|r| r.file.as_deref()))
                            .bind(rule.map(|r| i64::from(r.line)))
                            .bind(actions)
                            .bind(record.call_started_at.map(to_millis))
                            .bind(contact.map(|c| c.status.as_str()))
                            .bind(contact.and_then(|c| c.detail.as_deref()))
                            .bind(record.decide_time.map(to_micros))
                            .bind(replica)
                            .execute(&mut *conn)
                            .await?;
                        if let Some(history) = &record.history {
                            sqlx::query(sql::UPSERT_HISTORY)
                                .bind(history.call_id)
                                .bind(history.caller.as_str())
                                .bind(history.agent_id.and_then(|id| i64::try_from(id).ok()))
                                .bind(history.agent_email.as_deref())
                                .bind(to_millis(history.answered_at))
                                .bind(to_millis(history.event_at))
                                .execute(&mut *conn)
                                .await?;
                        }
                    }
                    Command::Outcome(outcome) => {
                        sqlx::query(sql::INSERT_OUTCOME)
                            .bind(outcome.call_id)
                            .bind(to_millis(outcome.recorded_at))
                            .bind(outcome.action.as_str())
                            .bind(outcome.target.as_deref())
                            .bind(outcome.status.as_str())
                            .bind(outcome.reason.as_deref())
                            .bind(i64::from(outcome.attempts))
                            .bind(to_micros(outcome.latency))
                            .bind(replica)
                            .execute(&mut *conn)
                            .await?;
                        // A "duplicate" outcome belongs to a second job for
                        // the call, not to the claimed decision.
                        if outcome.status != "duplicate" {
                            sqlx::query(sql::COUNT_OUTCOME)
                                .bind(outcome.call_id)
                                .execute(&mut *conn)
                                .await?;
                        }
                    }
                    Command::Release { call_id, .. } => {
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
                    Command::Flush(_) => {}
                }
            }
            Ok::<Vec<Option<bool>>, sqlx::Error>(claims)
        }
        .await
    }};
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
        let someone_waits = matches!(first, Command::Record { .. });
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
            Ok(mut tx) => match write_batch!(&mut *tx, replica, &*batch) {
                Ok(claims) => tx.commit().await.map(|()| claims),
                Err(error) => Err(error),
            },
            Err(error) => Err(error),
        },
        Db::Postgres(pool) => match pool.begin().await {
            Ok(mut tx) => match write_batch!(&mut *tx, replica, &*batch) {
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
                    Command::Release { reply, .. } => {
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
                    Command::Release { reply, .. } => {
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
