//! Batched `last_agent` reads: one query for every lookup waiting.
//!
//! When the rules read `last_agent`, every `call.created` looks its caller
//! up in the call history before deciding. One query per webhook costs
//! more than the rest of the webhook together (each sqlx query is a round
//! trip to a connection's worker thread, and on two cores that thread
//! hand-off dominates), so lookups go through this task, as writes go
//! through the group commit: it takes the first lookup, whatever else has
//! arrived meanwhile (up to a bound), and answers them all from ONE query
//! that finds the newest answered call of each distinct caller. When idle
//! a lookup is a query of its own, so waiting never adds latency; under
//! load the lookups that pile up during one query share the next.
//!
//! What it must not do: answer with anything but what the one-by-one
//! query ([`super::sql::LAST_AGENT`]) would: the newest answered call of
//! the caller (ties broken by event time, then call id), and nothing when
//! that call is older than the lookup's window.

use std::collections::HashMap;

use sqlx::FromRow;
use tokio::sync::{mpsc, oneshot};

use super::{read_error, sql, Db, StoreError};
use crate::lang::Agent;

/// The most lookups one query answers.
pub(crate) const LOOKUP_BATCH: usize = 256;

/// One caller's lookup: the newest answered call at or after `since_ms`.
pub(crate) struct Lookup {
    pub(crate) caller: String,
    pub(crate) since_ms: i64,
    pub(crate) reply: oneshot::Sender<Result<Option<Agent>, StoreError>>,
}

/// The newest answered call of a caller.
#[derive(Debug, FromRow)]
struct Newest {
    caller: String,
    agent_id: Option<i64>,
    agent_email: Option<String>,
    answered_at: i64,
}

/// Runs until every sender is gone.
pub(crate) async fn run(db: Db, mut receiver: mpsc::Receiver<Lookup>) {
    let mut batch = Vec::with_capacity(LOOKUP_BATCH);
    while let Some(first) = receiver.recv().await {
        batch.push(first);
        while batch.len() < LOOKUP_BATCH {
            match receiver.try_recv() {
                Ok(lookup) => batch.push(lookup),
                Err(_) => break,
            }
        }
        answer(&db, &mut batch).await;
    }
}

async fn answer(db: &Db, batch: &mut Vec<Lookup>) {
    let mut callers: Vec<&str> = batch.iter().map(|lookup| lookup.caller.as_str()).collect();
    callers.sort_unstable();
    callers.dedup();
    // Callers are E.164 strings; as a JSON array they bind as one value.
    let callers = serde_json::to_string(&callers).unwrap_or_else(|_| "[]".to_owned());
    let rows: Result<Vec<Newest>, sqlx::Error> = match db {
        Db::Sqlite { read, .. } => {
            sqlx::query_as(sql::SQLITE_NEWEST_ANSWERED)
                .bind(callers)
                .fetch_all(read)
                .await
        }
        Db::Postgres(pool) => {
            sqlx::query_as(sql::POSTGRES_NEWEST_ANSWERED)
                .bind(callers)
                .fetch_all(pool)
                .await
        }
    };
    match rows {
        Ok(rows) => {
            let newest: HashMap<String, Newest> = rows
                .into_iter()
                .map(|row| (row.caller.clone(), row))
                .collect();
            for lookup in batch.drain(..) {
                let agent = newest
                    .get(&lookup.caller)
                    .filter(|row| row.answered_at >= lookup.since_ms)
                    .map(|row| Agent {
                        id: row.agent_id.and_then(|id| u64::try_from(id).ok()),
                        email: row.agent_email.clone(),
                    })
                    .filter(|agent| agent.id.is_some() || agent.email.is_some());
                let _ = lookup.reply.send(Ok(agent));
            }
        }
        Err(error) => {
            let error = read_error(error);
            for lookup in batch.drain(..) {
                let _ = lookup.reply.send(Err(error.clone()));
            }
        }
    }
}
