//! Where the Aircall side reports to us: action outcomes (logs and
//! metrics) and API requests (metrics).
//!
//! Records are logged by call id, rule, revision and status; never with
//! credentials or tokens (the records carry none).

use std::sync::Arc;
use std::time::Duration;

use crate::aircall::client::{ApiObserver, Endpoint, RequestOutcome};
use crate::aircall::dispatch::{ActionRecord, DispatchOutcome, OutcomeSink};
use crate::metrics::Metrics;

/// Logs and counts every action record.
#[derive(Debug, Clone)]
pub struct LogSink {
    metrics: Arc<Metrics>,
}

impl LogSink {
    pub fn new(metrics: Arc<Metrics>) -> LogSink {
        LogSink { metrics }
    }
}

/// The rule as logs show it: its name, or `line N`, or `-` for none.
pub(crate) fn rule_label(rule: Option<&crate::lang::outcome::RuleRef>) -> String {
    match rule {
        Some(rule) => match &rule.name {
            Some(name) => name.to_string(),
            None => format!("line {}", rule.line),
        },
        None => "none".to_owned(),
    }
}

impl OutcomeSink for LogSink {
    fn record(&self, record: ActionRecord) {
        let status = record.status.label();
        let ok = matches!(
            record.status,
            DispatchOutcome::Sent
                | DispatchOutcome::DryRun
                | DispatchOutcome::Kept { .. }
                | DispatchOutcome::Duplicate
        );
        self.metrics.action(record.action.as_str(), status, ok);
        let latency_ms = record.latency.as_secs_f64() * 1000.0;
        // Arguments of the tracing macros are only evaluated when the
        // level is enabled: no formatting for filtered-out lines.
        match &record.status {
            // The decision line already said "keep": this adds nothing at
            // the default level.
            DispatchOutcome::Kept { .. } => tracing::debug!(
                call_id = record.call_id,
                rule = rule_label(record.rule.as_ref()),
                revision = record.revision.as_str(),
                "{}",
                record.summary()
            ),
            DispatchOutcome::Sent | DispatchOutcome::DryRun | DispatchOutcome::Duplicate => {
                tracing::info!(
                    call_id = record.call_id,
                    rule = rule_label(record.rule.as_ref()),
                    revision = record.revision.as_str(),
                    status,
                    attempts = record.attempts,
                    latency_ms,
                    "{}",
                    record.summary()
                );
            }
            DispatchOutcome::Failed { .. }
            | DispatchOutcome::Unknown { .. }
            | DispatchOutcome::Expired
            | DispatchOutcome::Skipped { .. } => tracing::warn!(
                call_id = record.call_id,
                rule = rule_label(record.rule.as_ref()),
                revision = record.revision.as_str(),
                status,
                attempts = record.attempts,
                latency_ms,
                "{}",
                record.summary()
            ),
        }
    }
}

/// Counts Aircall API requests by endpoint and status, with latency.
#[derive(Debug, Clone)]
pub struct MetricsObserver {
    metrics: Arc<Metrics>,
}

impl MetricsObserver {
    pub fn new(metrics: Arc<Metrics>) -> MetricsObserver {
        MetricsObserver { metrics }
    }
}

impl ApiObserver for MetricsObserver {
    fn observe(&self, endpoint: Endpoint, outcome: RequestOutcome, latency: Duration) {
        self.metrics
            .api_request(endpoint.as_str(), &outcome.label(), latency);
    }
}
