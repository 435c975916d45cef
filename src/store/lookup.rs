//! Batched `last_agent` reads: one query for every lookup waiting.
//!
//! When the rules read `last_agent`, every `call.created` looks its caller
//! up in the call history before deciding. On PostgreSQL one query per
//! webhook would be one round trip each, so lookups go through the task
//! here, as writes go through the group commit: it takes the first
//! lookup, whatever else has arrived meanwhile (up to a bound), and
//! answers them all from ONE query that finds the newest answered call of
//! each distinct caller. When idle a lookup is a query of its own, so
//! waiting never adds latency; under load the lookups that pile up during
//! one query share the next. SQLite batches the same way, with the same
//! answer rules ([`reply_all`]), without a task (see `sqlite_reads`).
//!
//! What it must not do: answer with anything but what the one-by-one
//! query ([`super::sql::LAST_AGENT`]) would: the newest answered call of
//! the caller (ties broken by event time, then call id), and nothing when
//! that call is older than the lookup's window.

use std::collections::HashMap;

use sqlx::FromRow;
use tokio::sync::{mpsc, oneshot};

use sqlx::PgPool;

use super::{read_error, sql, AgentRow, StoreError};

/// The most lookups one query answers.
pub(crate) const LOOKUP_BATCH: usize = 256;

/// One caller's lookup: the newest answered call at or after `since_ms`.
pub(crate) struct Lookup {
    pub(crate) caller: String,
    pub(crate) since_ms: i64,
    pub(crate) reply: oneshot::Sender<Result<Option<AgentRow>, StoreError>>,
}

/// The newest answered call of a caller.
#[derive(Debug, FromRow)]
struct Newest {
    caller: String,
    agent_id: Option<i64>,
    agent_email: Option<String>,
    answered_at: i64,
}

/// Runs until every sender is gone (PostgreSQL; SQLite's lookups are
/// run by whoever asks, see `sqlite_reads`).
pub(crate) async fn run(pool: PgPool, mut receiver: mpsc::Receiver<Lookup>) {
    let mut batch = Vec::with_capacity(LOOKUP_BATCH);
    while let Some(first) = receiver.recv().await {
        batch.push(first);
        while batch.len() < LOOKUP_BATCH {
            match receiver.try_recv() {
                Ok(lookup) => batch.push(lookup),
                Err(_) => break,
            }
        }
        answer(&pool, &mut batch).await;
    }
}

async fn answer(pool: &PgPool, batch: &mut Vec<Lookup>) {
    let rows: Result<Vec<Newest>, sqlx::Error> = sqlx::query_as(sql::POSTGRES_NEWEST_ANSWERED)
        .bind(callers_json(batch))
        .fetch_all(pool)
        .await;
    let rows = rows.map(|rows| {
        rows.into_iter()
            .map(|row| NewestAnswered {
                caller: row.caller,
                agent: (row.agent_id, row.agent_email),
                answered_at: row.answered_at,
            })
            .collect()
    });
    reply_all(batch.drain(..), rows.map_err(read_error));
}

/// The distinct callers of a batch as a JSON array of E.164 strings,
/// which binds as one value.
pub(crate) fn callers_json(batch: &[Lookup]) -> String {
    let mut callers: Vec<&str> = batch.iter().map(|lookup| lookup.caller.as_str()).collect();
    callers.sort_unstable();
    callers.dedup();
    serde_json::to_string(&callers).unwrap_or_else(|_| "[]".to_owned())
}

/// The newest answered call of a caller, as the batch queries find it.
pub(crate) struct NewestAnswered {
    pub(crate) caller: String,
    pub(crate) agent: AgentRow,
    pub(crate) answered_at: i64,
}

/// Answers each lookup of a batch from the rows of one batch query: the
/// caller's newest answered call, if it is within the lookup's window.
pub(crate) fn reply_all(
    lookups: impl Iterator<Item = Lookup>,
    rows: Result<Vec<NewestAnswered>, StoreError>,
) {
    match rows {
        Ok(rows) => {
            let newest: HashMap<String, NewestAnswered> = rows
                .into_iter()
                .map(|row| (row.caller.clone(), row))
                .collect();
            for lookup in lookups {
                let agent = newest
                    .get(&lookup.caller)
                    .filter(|row| row.answered_at >= lookup.since_ms)
                    .map(|row| row.agent.clone());
                let _ = lookup.reply.send(Ok(agent));
            }
        }
        Err(error) => {
            for lookup in lookups {
                let _ = lookup.reply.send(Err(error.clone()));
            }
        }
    }
}
