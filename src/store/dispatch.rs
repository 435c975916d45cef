//! Where the store meets the dispatcher: action outcomes into the log,
//! and unfinished decisions back into the queue after a restart.
//!
//! [`StoreSink`] is an [`OutcomeSink`] that records every
//! [`ActionRecord`] in the store (without waiting: the decision is
//! already durable) and passes it on to another sink (the server's logs
//! and metrics). [`resume`] hands the calls [`Store::recover`] found still
//! within their deadline to the dispatcher, as if just decided.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::record::{rule_ref, OutcomeRecord};
use super::{Store, StoreError};
use crate::aircall::dispatch::{
    ActionKind, ActionRecord, DispatchOutcome, Dispatcher, Job, OutcomeSink, SendingFuture,
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
            if let Err(error) = self.store.mark_sending(call_id).await {
                tracing::warn!(call_id, %error, "could not note the transfer as being sent");
            }
        })
    }
}

/// Carries out what a previous run of this replica decided but did not
/// finish: calls within their deadline go to the dispatcher again; the
/// others are marked expired. Returns `(resumed, expired)`.
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
            "unfinished decisions from the previous run"
        );
    }
    Ok((resumed, recovery.expired))
}
