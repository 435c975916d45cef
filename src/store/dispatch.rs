//! Where the store meets the dispatcher: action outcomes into the log,
//! and unfinished decisions of instances that are gone back into a queue.
//!
//! [`StoreSink`] is an [`OutcomeSink`] that records every
//! [`ActionRecord`] in the store (without waiting: the decision is
//! already durable), clears a transfer only once its "sending" mark is
//! committed, and passes records on to another sink (the server's logs
//! and metrics). [`resume`] hands the calls [`Store::recover`] took over
//! and found still within their deadline to the dispatcher, as if just
//! decided: at start, and on PostgreSQL every fifth of the lease expiry
//! ([`spawn_takeover`]), as a replica may die while the others run on.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;

use super::record::{rule_ref, OutcomeRecord};
use super::{StateLocation, Store, StoreError};
use crate::aircall::dispatch::{
    ActionKind, ActionRecord, Clearance, DispatchOutcome, Dispatcher, Job, OutcomeSink,
    SendingFuture,
};
use crate::lang::Decision;

/// Records outcomes in the store, then hands them to `next`.
pub struct StoreSink {
    store: Store,
    next: Arc<dyn OutcomeSink>,
}

impl std::fmt::Debug for StoreSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSink")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl StoreSink {
    pub fn new(store: Store, next: Arc<dyn OutcomeSink>) -> StoreSink {
        StoreSink { store, next }
    }
}

/// The log's form of a dispatcher record.
pub fn outcome_record(record: &ActionRecord, now: DateTime<Utc>) -> OutcomeRecord {
    let reason = match &record.status {
        DispatchOutcome::Failed { reason }
        | DispatchOutcome::Unknown { reason }
        | DispatchOutcome::Kept { reason }
        | DispatchOutcome::Skipped { reason } => Some(reason.clone()),
        DispatchOutcome::Sent
        | DispatchOutcome::DryRun
        | DispatchOutcome::Expired
        | DispatchOutcome::Duplicate => None,
    };
    let skipped: Vec<String> = record
        .skipped
        .iter()
        .map(|s| format!("{} skipped: {}", s.target, s.reason))
        .collect();
    let reason = match (reason, skipped.is_empty()) {
        (reason, true) => reason,
        (Some(reason), false) => Some(format!("{reason} ({})", skipped.join("; "))),
        (None, false) => Some(skipped.join("; ")),
    };
    OutcomeRecord {
        call_id: record.call_id,
        recorded_at: now,
        action: record.action.as_str().to_owned(),
        target: record.target.clone(),
        status: record.status.label().to_owned(),
        reason,
        attempts: record.attempts,
        latency: record.latency,
    }
}

impl OutcomeSink for StoreSink {
    fn record(&self, record: ActionRecord) {
        // A `keep` is complete in the decision's own record: no row for it
        // (the no-match path, the busiest, then writes one row, not two).
        if record.action != ActionKind::Keep {
            self.store
                .record_outcome(outcome_record(&record, Utc::now()));
        }
        self.next.record(record);
    }

    fn sending(&self, call_id: i64) -> SendingFuture<'_> {
        Box::pin(async move {
            match self.store.mark_sending(call_id).await {
                Ok(true) => Clearance::Cleared,
                Ok(false) => {
                    tracing::warn!(
                        call_id,
                        "transfer not sent: another replica took the call over (this one's \
                         lease had lapsed)"
                    );
                    Clearance::ClaimedElsewhere
                }
                Err(error) => {
                    tracing::warn!(call_id, %error, "transfer not sent: could not note it as being sent");
                    Clearance::NotNoted(error.to_string())
                }
            }
        })
    }
}

/// Carries out what instances that are gone (an earlier run of this
/// process, another replica) decided but did not finish: calls within
/// their deadline go to the dispatcher; the others are marked expired.
/// Returns `(resumed, expired)`.
pub async fn resume(
    store: &Store,
    dispatcher: &Dispatcher,
    now: DateTime<Utc>,
) -> Result<(usize, usize), StoreError> {
    let recovery = store.recover(now).await?;
    let mut resumed = 0;
    for call in recovery.resume {
        let job = Job {
            call_id: call.call_id,
            call_started_at: call.call_started_at,
            decision: Decision {
                rule: call.rule.as_ref().map(rule_ref),
                actions: call.actions,
                ignored: None,
            },
            revision: call.revision,
        };
        match dispatcher.try_submit(job) {
            Ok(()) => resumed += 1,
            Err(full) => tracing::warn!(
                call_id = call.call_id,
                %full,
                "could not resume an unfinished decision"
            ),
        }
    }
    if resumed > 0 || recovery.expired > 0 {
        tracing::info!(
            resumed,
            expired = recovery.expired,
            "took over unfinished decisions of instances that are gone"
        );
    }
    Ok((resumed, recovery.expired))
}

/// PostgreSQL: takes over, every fifth of `store.lease_expiry`, the
/// unfinished calls of replicas that died while this one runs (see
/// [`resume`]). `None` on SQLite: one process writes the file, and
/// earlier runs' calls were taken over at start.
pub fn spawn_takeover(store: &Store, dispatcher: &Dispatcher) -> Option<JoinHandle<()>> {
    if !matches!(store.location(), StateLocation::Postgres(_)) {
        return None;
    }
    let (store, dispatcher) = (store.clone(), dispatcher.clone());
    Some(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(store.lease_renewal());
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate: the start already looked.
        ticks.tick().await;
        loop {
            ticks.tick().await;
            if let Err(error) = resume(&store, &dispatcher, Utc::now()).await {
                tracing::warn!(%error, "could not look for the unfinished calls of replicas that are gone");
            }
        }
    }))
}
