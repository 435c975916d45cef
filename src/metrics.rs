//! Counters and histograms for `/metrics` (Prometheus / OpenMetrics text)
//! and the plain counts shown on `/status`.
//!
//! Label values come from closed sets (event names we know, outcomes, HTTP
//! statuses, rule names of the running rule set) so that a client posting
//! made-up event names cannot grow the series without bound. This module
//! records numbers only: it never logs and never decides anything.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use serde::Serialize;

/// Every webhook event name Aircall documents that we may receive; any
/// other name is counted as `other`.
const KNOWN_EVENTS: &[&str] = &[
    "call.created",
    "call.ringing_on_agent",
    "call.agent_declined",
    "call.answered",
    "call.transferred",
    "call.external_transferred",
    "call.unsuccessful_transfer",
    "call.hungup",
    "call.ended",
    "call.hold",
    "call.unhold",
    "call.ivr_option_selected",
    "call.comm_assets_generated",
    "call.voicemail_left",
    "call.assigned",
    "call.archived",
    "call.tagged",
    "call.untagged",
    "call.commented",
    "user.created",
    "user.deleted",
    "user.connected",
    "user.disconnected",
    "user.opened",
    "user.closed",
    "user.wut_start",
    "user.wut_end",
    "user.created.v2",
    "user.deleted.v2",
    "user.connected.v2",
    "user.disconnected.v2",
    "user.opened.v2",
    "user.closed.v2",
    "user.wut_start.v2",
    "user.wut_end.v2",
    "number.created",
    "number.deleted",
    "number.opened",
    "number.closed",
    "contact.created",
    "contact.updated",
    "contact.deleted",
];

/// The metric label for an event name: itself when documented, else `other`.
pub fn event_label(event: &str) -> &'static str {
    KNOWN_EVENTS
        .iter()
        .find(|known| **known == event)
        .copied()
        .unwrap_or("other")
}

/// What became of a webhook request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookOutcome {
    /// Decided (and handed to the dispatcher when there was something to do).
    Decided,
    /// A `call.created` already seen: acknowledged, not decided again.
    Duplicate,
    /// A known event we use for something other than deciding (presence,
    /// directory).
    Applied,
    /// A `call.created` the rules do not decide (an outbound call).
    Skipped,
    /// An event we do not use: acknowledged and counted.
    Ignored,
    Unauthorized,
    BadRequest,
    TooLarge,
    /// The body did not arrive within `server.body_read_timeout`: 408.
    BodyTimeout,
    /// The dispatcher's queue was full: 503, Aircall redelivers.
    QueueFull,
    /// The state store could not record it: 503, Aircall redelivers.
    NotRecorded,
}

impl WebhookOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookOutcome::Decided => "decided",
            WebhookOutcome::Duplicate => "duplicate",
            WebhookOutcome::Applied => "applied",
            WebhookOutcome::Skipped => "skipped",
            WebhookOutcome::Ignored => "ignored",
            WebhookOutcome::Unauthorized => "unauthorized",
            WebhookOutcome::BadRequest => "bad_request",
            WebhookOutcome::TooLarge => "too_large",
            WebhookOutcome::BodyTimeout => "body_timeout",
            WebhookOutcome::QueueFull => "queue_full",
            WebhookOutcome::NotRecorded => "not_recorded",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookLabels {
    event: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    rule: String,
    action: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: &'static str,
    status: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApiLabels {
    endpoint: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClosedLabels {
    reason: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn api_latency_histogram() -> Histogram {
    // 5 ms .. ~20 s: Aircall answers in tens to hundreds of milliseconds;
    // the tail shows timeouts.
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

/// Plain totals for `/status` (Prometheus families cannot be summed
/// cheaply across labels).
#[derive(Debug, Default)]
pub struct Counts {
    pub webhooks: AtomicU64,
    pub decisions: AtomicU64,
    pub transfers_decided: AtomicU64,
    pub duplicates: AtomicU64,
    pub ignored_events: AtomicU64,
    pub rejected_requests: AtomicU64,
    pub queue_full: AtomicU64,
    pub actions_done: AtomicU64,
    pub actions_failed: AtomicU64,
    pub reloads_applied: AtomicU64,
    pub reloads_rejected: AtomicU64,
}

/// A snapshot of [`Counts`], as `/status` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CountsSnapshot {
    pub webhooks: u64,
    pub decisions: u64,
    pub transfers_decided: u64,
    pub duplicates: u64,
    pub ignored_events: u64,
    pub rejected_requests: u64,
    pub queue_full: u64,
    pub actions_done: u64,
    pub actions_failed: u64,
    pub reloads_applied: u64,
    pub reloads_rejected: u64,
}

impl Counts {
    pub fn snapshot(&self) -> CountsSnapshot {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        CountsSnapshot {
            webhooks: get(&self.webhooks),
            decisions: get(&self.decisions),
            transfers_decided: get(&self.transfers_decided),
            duplicates: get(&self.duplicates),
            ignored_events: get(&self.ignored_events),
            rejected_requests: get(&self.rejected_requests),
            queue_full: get(&self.queue_full),
            actions_done: get(&self.actions_done),
            actions_failed: get(&self.actions_failed),
            reloads_applied: get(&self.reloads_applied),
            reloads_rejected: get(&self.reloads_rejected),
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// All of the service's metrics, registered once at start.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    webhooks: Family<WebhookLabels, Counter>,
    webhook_seconds: Histogram,
    decisions: Family<DecisionLabels, Counter>,
    actions: Family<ActionLabels, Counter>,
    api_requests: Family<ApiLabels, Counter>,
    api_seconds: HistogramFamily<EndpointLabels>,
    reloads: Family<ReloadLabels, Counter>,
    queue_depth: Gauge,
    directory_size: Gauge,
    open_connections: Gauge,
    connections_closed: Family<ClosedLabels, Counter>,
    counts: Counts,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("switchboard");
        let webhooks = Family::<WebhookLabels, Counter>::default();
        registry.register(
            "webhooks",
            "Webhook requests received, by event and outcome",
            webhooks.clone(),
        );
        // 50 µs .. ~0.8 s: acknowledgement is meant to take well under 2 ms.
        let webhook_seconds = Histogram::new(exponential_buckets(0.000_05, 2.0, 15));
        registry.register(
            "webhook_duration_seconds",
            "Time from a webhook's body being read to its acknowledgement",
            webhook_seconds.clone(),
        );
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "decisions",
            "Calls decided by the rules, by rule and action",
            decisions.clone(),
        );
        let actions = Family::<ActionLabels, Counter>::default();
        registry.register(
            "actions",
            "Actions carried out by the dispatcher, by action and result",
            actions.clone(),
        );
        let api_requests = Family::<ApiLabels, Counter>::default();
        registry.register(
            "aircall_requests",
            "Requests to the Aircall API, by endpoint and status",
            api_requests.clone(),
        );
        let api_seconds: HistogramFamily<EndpointLabels> =
            Family::new_with_constructor(api_latency_histogram);
        registry.register(
            "aircall_request_duration_seconds",
            "Latency of Aircall API requests, by endpoint",
            api_seconds.clone(),
        );
        let reloads = Family::<ReloadLabels, Counter>::default();
        registry.register("reloads", "Rules reloads, by outcome", reloads.clone());
        let queue_depth = Gauge::default();
        registry.register(
            "dispatch_queue_depth",
            "Actions waiting for the Aircall API",
            queue_depth.clone(),
        );
        let directory_size = Gauge::default();
        registry.register(
            "directory_entries",
            "Users and teams in the in-memory Aircall directory",
            directory_size.clone(),
        );
        let open_connections = Gauge::default();
        registry.register(
            "open_connections",
            "HTTP connections open (server.max_connections bounds them)",
            open_connections.clone(),
        );
        let connections_closed = Family::<ClosedLabels, Counter>::default();
        registry.register(
            "connections_closed",
            "Connections the server closed on its own, by reason (max_connections, header_timeout, idle_timeout)",
            connections_closed.clone(),
        );
        Metrics {
            registry,
            webhooks,
            webhook_seconds,
            decisions,
            actions,
            api_requests,
            api_seconds,
            reloads,
            queue_depth,
            directory_size,
            open_connections,
            connections_closed,
            counts: Counts::default(),
        }
    }

    /// The totals shown on `/status`.
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// One webhook request and how long it took to acknowledge.
    pub fn webhook(&self, event: &str, outcome: WebhookOutcome, elapsed: Duration) {
        self.webhooks
            .get_or_create(&WebhookLabels {
                event: event_label(event),
                outcome: outcome.as_str(),
            })
            .inc();
        self.webhook_seconds.observe(elapsed.as_secs_f64());
        bump(&self.counts.webhooks);
        match outcome {
            WebhookOutcome::Duplicate => bump(&self.counts.duplicates),
            WebhookOutcome::Ignored => bump(&self.counts.ignored_events),
            WebhookOutcome::Unauthorized
            | WebhookOutcome::BadRequest
            | WebhookOutcome::TooLarge
            | WebhookOutcome::BodyTimeout => bump(&self.counts.rejected_requests),
            WebhookOutcome::QueueFull | WebhookOutcome::NotRecorded => {
                bump(&self.counts.queue_full)
            }
            WebhookOutcome::Decided | WebhookOutcome::Applied | WebhookOutcome::Skipped => {}
        }
    }

    /// One decision: `rule` is the rule's name (or `line N` for an unnamed
    /// rule, `none` when no rule matched); `action` is `transfer` or `keep`.
    pub fn decision(&self, rule: String, action: &'static str) {
        self.decisions
            .get_or_create(&DecisionLabels { rule, action })
            .inc();
        bump(&self.counts.decisions);
        if action == "transfer" {
            bump(&self.counts.transfers_decided);
        }
    }

    /// One action carried out (or not) by the dispatcher. `ok` says whether
    /// it ended well (sent, dry-run, kept) for the `/status` totals.
    pub fn action(&self, action: &'static str, status: &'static str, ok: bool) {
        self.actions
            .get_or_create(&ActionLabels { action, status })
            .inc();
        bump(if ok {
            &self.counts.actions_done
        } else {
            &self.counts.actions_failed
        });
    }

    /// One Aircall API request: `status` is the HTTP status code, or a word
    /// for a transport failure (`timeout`, `connect`, ...).
    pub fn api_request(&self, endpoint: &str, status: &str, latency: Duration) {
        self.api_requests
            .get_or_create(&ApiLabels {
                endpoint: endpoint.to_owned(),
                status: status.to_owned(),
            })
            .inc();
        self.api_seconds
            .get_or_create(&EndpointLabels {
                endpoint: endpoint.to_owned(),
            })
            .observe(latency.as_secs_f64());
    }

    /// One rules reload: `applied`, `unchanged` or `rejected`.
    pub fn reload(&self, outcome: &'static str) {
        self.reloads.get_or_create(&ReloadLabels { outcome }).inc();
        match outcome {
            "applied" => bump(&self.counts.reloads_applied),
            "rejected" => bump(&self.counts.reloads_rejected),
            _ => {}
        }
    }

    /// A connection was accepted and is being served.
    pub fn connection_opened(&self) {
        self.open_connections.inc();
    }

    /// A connection that was being served is closed.
    pub fn connection_ended(&self) {
        self.open_connections.dec();
    }

    /// The server closed a connection without waiting for its client:
    /// `max_connections` (refused at the cap), `header_timeout` or
    /// `idle_timeout`.
    pub fn connection_closed(&self, reason: &'static str) {
        self.connections_closed
            .get_or_create(&ClosedLabels { reason })
            .inc();
    }

    /// Gauges read from other components just before a scrape.
    pub fn set_gauges(&self, queue_depth: usize, directory_size: usize) {
        self.queue_depth
            .set(i64::try_from(queue_depth).unwrap_or(i64::MAX));
        self.directory_size
            .set(i64::try_from(directory_size).unwrap_or(i64::MAX));
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        // Writing into a String cannot fail.
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// The `Content-Type` of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_events_share_one_label() {
        assert_eq!(event_label("call.created"), "call.created");
        assert_eq!(event_label("user.closed.v2"), "user.closed.v2");
        assert_eq!(event_label("made.up"), "other");
    }

    #[test]
    fn encodes_every_family() {
        let metrics = Metrics::new();
        metrics.webhook(
            "call.created",
            WebhookOutcome::Decided,
            Duration::from_micros(80),
        );
        metrics.webhook("nonsense", WebhookOutcome::Ignored, Duration::ZERO);
        metrics.decision("VIP".to_owned(), "transfer");
        metrics.action("transfer", "sent", true);
        metrics.api_request("transfer", "204", Duration::from_millis(40));
        metrics.reload("rejected");
        metrics.set_gauges(3, 12);
        metrics.connection_opened();
        metrics.connection_opened();
        metrics.connection_ended();
        metrics.connection_closed("idle_timeout");
        let text = metrics.encode();
        for expected in [
            r#"switchboard_webhooks_total{event="call.created",outcome="decided"} 1"#,
            r#"switchboard_webhooks_total{event="other",outcome="ignored"} 1"#,
            r#"switchboard_decisions_total{rule="VIP",action="transfer"} 1"#,
            r#"switchboard_actions_total{action="transfer",status="sent"} 1"#,
            r#"switchboard_aircall_requests_total{endpoint="transfer",status="204"} 1"#,
            r#"switchboard_aircall_request_duration_seconds_count{endpoint="transfer"} 1"#,
            r#"switchboard_reloads_total{outcome="rejected"} 1"#,
            "switchboard_dispatch_queue_depth 3",
            "switchboard_open_connections 1",
            r#"switchboard_connections_closed_total{reason="idle_timeout"} 1"#,
            "switchboard_webhook_duration_seconds_count 2",
            "# EOF",
        ] {
            assert!(text.contains(expected), "missing {expected} in\n{text}");
        }
        let counts = metrics.counts().snapshot();
        assert_eq!(counts.webhooks, 2);
        assert_eq!(counts.ignored_events, 1);
        assert_eq!(counts.transfers_decided, 1);
        assert_eq!(counts.reloads_rejected, 1);
    }
}
