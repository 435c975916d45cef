//! Reading the decision log: "why did this call go there?".
//!
//! [`DecisionQuery`] filters by call, caller and age; each
//! [`DecisionEntry`] carries the rule (name, file, line), the actions as
//! `explain` prints them, the contact lookup, and the outcome of every
//! action. Used by `switchboard decisions` and `GET /decisions`. Filters
//! are bound parameters; nothing here writes.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::QueryBuilder;

use super::record::{from_millis, ContactLookupRecord, Disposition, OutcomeRecord, RuleLabel};
use super::{sql, Db, OutcomeRow, StoreError};

/// The most entries one query returns.
pub const MAX_LIMIT: u32 = 10_000;

/// Which records to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionQuery {
    pub call_id: Option<i64>,
    /// E.164.
    pub caller: Option<String>,
    pub since: Option<DateTime<Utc>>,
    /// At most this many (newest first); capped at [`MAX_LIMIT`].
    pub limit: u32,
    /// Every webhook, not only `call.created`.
    pub all_events: bool,
}

impl Default for DecisionQuery {
    fn default() -> Self {
        DecisionQuery {
            call_id: None,
            caller: None,
            since: None,
            limit: 50,
            all_events: false,
        }
    }
}

/// One record of the log with the outcomes of its actions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionEntry {
    pub id: i64,
    pub received_at: DateTime<Utc>,
    pub event: String,
    pub call_id: Option<i64>,
    pub caller: Option<String>,
    pub number: Option<String>,
    pub disposition: Disposition,
    pub revision: Option<String>,
    /// The deciding rule; `null` when none matched (or none was tried).
    pub rule: Option<RuleLabel>,
    /// The actions as `explain --format json` prints them.
    pub actions: Option<serde_json::Value>,
    pub call_started_at: Option<DateTime<Utc>>,
    pub contact: Option<ContactLookupRecord>,
    /// Time spent deciding before the commit, in milliseconds.
    pub decide_ms: Option<f64>,
    pub replica: String,
    /// What became of each action (decided records only).
    pub outcomes: Vec<OutcomeRecord>,
}

#[derive(Debug, sqlx::FromRow)]
struct WebhookRow {
    id: i64,
    received_at: i64,
    event: String,
    call_id: Option<i64>,
    caller: Option<String>,
    number: Option<String>,
    disposition: String,
    revision: Option<String>,
    rule_name: Option<String>,
    rule_file: Option<String>,
    rule_line: Option<i64>,
    actions: Option<String>,
    call_started_at: Option<i64>,
    contact_status: Option<String>,
    contact_detail: Option<String>,
    decide_us: Option<i64>,
    replica: String,
}

impl WebhookRow {
    fn into_entry(self) -> DecisionEntry {
        #[expect(clippy::cast_precision_loss, reason = "display only")]
        let decide_ms = self.decide_us.map(|us| us as f64 / 1000.0);
        DecisionEntry {
            id: self.id,
            received_at: from_millis(self.received_at),
            event: self.event,
            call_id: self.call_id,
            caller: self.caller,
            number: self.number,
            disposition: Disposition::parse(&self.disposition),
            revision: self.revision,
            rule: self.rule_line.map(|line| RuleLabel {
                name: self.rule_name,
                file: self.rule_file,
                line: u32::try_from(line).unwrap_or(0),
            }),
            actions: self
                .actions
                .and_then(|text| serde_json::from_str(&text).ok()),
            call_started_at: self.call_started_at.map(from_millis),
            contact: self.contact_status.map(|status| ContactLookupRecord {
                status,
                detail: self.contact_detail,
            }),
            decide_ms,
            replica: self.replica,
            outcomes: Vec::new(),
        }
    }
}

fn outcome(row: OutcomeRow) -> OutcomeRecord {
    let (call_id, recorded_at, action, target, status, reason, attempts, latency_us) = row;
    OutcomeRecord {
        call_id,
        recorded_at: from_millis(recorded_at),
        action,
        target,
        status,
        reason,
        attempts: u32::try_from(attempts).unwrap_or(0),
        latency: Duration::from_micros(u64::try_from(latency_us).unwrap_or(0)),
    }
}

macro_rules! run_query {
    ($pool:expr, $query:expr) => {{
        let pool = $pool;
        let query: &DecisionQuery = $query;
        let mut builder = QueryBuilder::new(sql::SELECT_WEBHOOKS);
        if !query.all_events {
            builder.push(" AND event = 'call.created'");
        }
        if let Some(call_id) = query.call_id {
            builder.push(" AND call_id = ").push_bind(call_id);
        }
        if let Some(caller) = &query.caller {
            builder.push(" AND caller = ").push_bind(caller.clone());
        }
        if let Some(since) = query.since {
            builder
                .push(" AND received_at >= ")
                .push_bind(since.timestamp_millis());
        }
        builder
            .push(" ORDER BY received_at DESC, id DESC LIMIT ")
            .push_bind(i64::from(query.limit.clamp(1, MAX_LIMIT)));
        let rows: Vec<WebhookRow> = builder
            .build_query_as()
            .fetch_all(pool)
            .await
            .map_err(|error| StoreError::Read(error.to_string()))?;
        let mut entries: Vec<DecisionEntry> = rows.into_iter().map(WebhookRow::into_entry).collect();
        let claimed: Vec<i64> = entries
            .iter()
            .filter(|e| e.disposition == Disposition::Decided)
            .filter_map(|e| e.call_id)
            .collect();
        if !claimed.is_empty() {
            let mut builder = QueryBuilder::new(
                "SELECT call_id, recorded_at, action, target, status, reason, attempts, latency_us \
                 FROM action_outcomes WHERE call_id IN (",
            );
            let mut list = builder.separated(", ");
            for call_id in &claimed {
                list.push_bind(*call_id);
            }
            builder.push(") ORDER BY id");
            let rows: Vec<OutcomeRow> = builder
                .build_query_as()
                .fetch_all(pool)
                .await
                .map_err(|error| StoreError::Read(error.to_string()))?;
            for row in rows {
                let record = outcome(row);
                if let Some(entry) = entries.iter_mut().find(|e| {
                    e.disposition == Disposition::Decided && e.call_id == Some(record.call_id)
                }) {
                    entry.outcomes.push(record);
                }
            }
        }
        Ok(entries)
    }};
}

pub(super) async fn run(db: &Db, query: &DecisionQuery) -> Result<Vec<DecisionEntry>, StoreError> {
    match db {
        Db::Sqlite { read, .. } => run_query!(read, query),
        Db::Postgres(pool) => run_query!(pool, query),
    }
}
