//! What the decision log holds: one [`WebhookRecord`] per acknowledged
//! webhook, then one [`OutcomeRecord`] per action carried out.
//!
//! Actions are stored as the JSON `explain` prints (the evaluator's own
//! `Serialize`), and read back through [`StoredAction`], a mirror that can
//! be deserialised, so a decision recorded before a crash can be carried
//! out after the restart. This module only shapes data: no SQL, no I/O.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::lang::ast::Ringing;
use crate::lang::outcome::{RuleRef, Skipped, TeamTarget, UserTarget};
use crate::lang::{Action, Target};

/// What became of a webhook, as the log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// An inbound `call.created` this replica claimed and decided.
    Decided,
    /// A `call.created` for a call already claimed (here or by another
    /// replica): nothing is done.
    Duplicate,
    /// A `call.created` the rules do not decide (an outbound call).
    Skipped,
    /// An event used for history, availability or the directory.
    Applied,
    /// An event nothing here uses; acknowledged all the same.
    Ignored,
    /// Decided and recorded, but the dispatcher could not take the job:
    /// answered 503 (Aircall delivers it again), claim released.
    Rejected,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Decided => "decided",
            Disposition::Duplicate => "duplicate",
            Disposition::Skipped => "skipped",
            Disposition::Applied => "applied",
            Disposition::Ignored => "ignored",
            Disposition::Rejected => "rejected",
        }
    }

    /// The inverse of [`Disposition::as_str`] (unknown text reads as `ignored`).
    pub fn parse(text: &str) -> Disposition {
        match text {
            "decided" => Disposition::Decided,
            "duplicate" => Disposition::Duplicate,
            "skipped" => Disposition::Skipped,
            "applied" => Disposition::Applied,
            "rejected" => Disposition::Rejected,
            _ => Disposition::Ignored,
        }
    }
}

/// The deciding rule as people know it: name, file and line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleLabel {
    pub name: Option<String>,
    pub file: Option<String>,
    pub line: u32,
}

/// How the caller's contact was looked up for a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactLookupRecord {
    /// `found`, `not_found`, `failed`, `timeout`, `cached`, or `skipped`
    /// (the rules do not read `contact.*`, or the caller is anonymous).
    pub status: String,
    /// The source that answered, or what went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// A claim on a call, taken with the record in the same transaction:
/// exactly one replica (and one delivery) gets `claimed == true`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimRequest {
    /// When the call started; its actions expire `deadline` after it.
    pub call_started_at: DateTime<Utc>,
    pub deadline: Duration,
    /// Actions to carry out (transfers, tags, comments; not `keep`): the
    /// claim is done when as many outcomes are recorded, at once when 0.
    pub action_count: u32,
}

/// The number of actions of a decision that the dispatcher carries out
/// (everything but `keep`, which is complete once recorded).
pub fn actions_to_carry_out(actions: &[Action]) -> u32 {
    let count = actions
        .iter()
        .filter(|action| !matches!(action, Action::Keep { .. }))
        .count();
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// One acknowledged webhook, written before the acknowledgement.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRecord {
    pub received_at: DateTime<Utc>,
    pub event: String,
    pub call_id: Option<i64>,
    /// The caller in E.164 (absent for anonymous callers and non-call events).
    pub caller: Option<String>,
    /// The Aircall line: E.164 digits, else `id N`.
    pub number: Option<String>,
    pub disposition: Disposition,
    /// The rules revision that decided.
    pub revision: Option<String>,
    pub rule: Option<RuleLabel>,
    /// The decision's actions as `explain` prints them (JSON array), when
    /// rules decided.
    pub actions: Option<serde_json::Value>,
    pub call_started_at: Option<DateTime<Utc>>,
    pub contact: Option<ContactLookupRecord>,
    /// Time spent deciding (contact, history, rules), before the commit.
    pub decide_time: Option<Duration>,
    /// Ask for a claim on `call_id` (decidable `call.created` only).
    pub claim: Option<ClaimRequest>,
    /// A call answered by an agent, for `last_agent`.
    pub history: Option<HistoryEntry>,
}

impl WebhookRecord {
    /// A record with only the essentials; the other fields are filled in
    /// by the caller as they become known.
    pub fn new(received_at: DateTime<Utc>, event: &str, disposition: Disposition) -> Self {
        WebhookRecord {
            received_at,
            event: event.to_owned(),
            call_id: None,
            caller: None,
            number: None,
            disposition,
            revision: None,
            rule: None,
            actions: None,
            call_started_at: None,
            contact: None,
            decide_time: None,
            claim: None,
            history: None,
        }
    }
}

/// An answered inbound call: who called, which agent answered, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub call_id: i64,
    /// E.164.
    pub caller: String,
    pub agent_id: Option<u64>,
    pub agent_email: Option<String>,
    pub answered_at: DateTime<Utc>,
    /// The webhook's own time (its `timestamp`): a later event about the
    /// same call replaces the agent, an earlier one delivered late does not.
    pub event_at: DateTime<Utc>,
}

/// What the store says once a record is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// For a record that asked for a claim: whether it got it. `false`
    /// means the call was already claimed (a duplicate delivery, possibly
    /// to another replica).
    pub claimed: Option<bool>,
}

/// The outcome of one action, recorded after the fact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutcomeRecord {
    pub call_id: i64,
    pub recorded_at: DateTime<Utc>,
    /// `transfer`, `keep`, `tag`, `comment`.
    pub action: String,
    pub target: Option<String>,
    /// `sent`, `dry_run`, `failed`, `unknown`, `expired`, `kept`,
    /// `skipped`, `duplicate`.
    pub status: String,
    pub reason: Option<String>,
    pub attempts: u32,
    #[serde(with = "micros")]
    pub latency: Duration,
}

mod micros {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(value.as_secs_f64() * 1000.0)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let millis = f64::deserialize(d)?;
        Ok(Duration::try_from_secs_f64(millis / 1000.0).unwrap_or_default())
    }
}

/// An action read back from the log (the JSON of [`Action`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StoredAction {
    Transfer {
        to: StoredTarget,
        #[serde(default)]
        fallbacks: Vec<StoredTarget>,
        #[serde(default)]
        skipped: Vec<StoredSkipped>,
    },
    Keep {
        #[serde(default)]
        reason: Option<String>,
    },
    Tag {
        tag: String,
    },
    Comment {
        text: String,
    },
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StoredSkipped {
    pub target: String,
    pub reason: String,
}

/// A transfer target as JSON: exactly one of `user`, `team`, `number`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StoredTarget {
    #[serde(default)]
    user: Option<IdOrText>,
    #[serde(default)]
    team: Option<IdOrText>,
    #[serde(default)]
    ringing: Option<String>,
    #[serde(default)]
    number: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
enum IdOrText {
    Id(u64),
    Text(String),
}

impl StoredTarget {
    fn into_target(self) -> Option<Target> {
        if let Some(user) = self.user {
            return Some(Target::User(match user {
                IdOrText::Id(id) => UserTarget::Id(id),
                IdOrText::Text(email) => UserTarget::Email(email),
            }));
        }
        if let Some(team) = self.team {
            let ringing = match self.ringing.as_deref() {
                Some("longest_idle") => Some(Ringing::LongestIdle),
                Some("random") => Some(Ringing::Random),
                Some("simultaneous") => Some(Ringing::Simultaneous),
                _ => None,
            };
            return Some(Target::Team {
                team: match team {
                    IdOrText::Id(id) => TeamTarget::Id(id),
                    IdOrText::Text(name) => TeamTarget::Name(name),
                },
                ringing,
            });
        }
        self.number.map(Target::Number)
    }
}

impl StoredAction {
    /// The evaluator's action again; `None` for a target that has none of
    /// `user`, `team`, `number` (a log written by something else).
    pub fn into_action(self) -> Option<Action> {
        Some(match self {
            StoredAction::Transfer {
                to,
                fallbacks,
                skipped,
            } => Action::Transfer {
                to: to.into_target()?,
                fallbacks: fallbacks
                    .into_iter()
                    .filter_map(StoredTarget::into_target)
                    .collect(),
                skipped: skipped
                    .into_iter()
                    .map(|s| Skipped {
                        target: s.target,
                        reason: s.reason,
                    })
                    .collect(),
            },
            StoredAction::Keep { reason } => Action::Keep { reason },
            StoredAction::Tag { tag } => Action::Tag { tag },
            StoredAction::Comment { text } => Action::Comment { text },
        })
    }
}

/// Reads a stored actions array back into the evaluator's actions.
pub fn actions_from_json(value: &serde_json::Value) -> Option<Vec<Action>> {
    let stored: Vec<StoredAction> = serde_json::from_value(value.clone()).ok()?;
    stored.into_iter().map(StoredAction::into_action).collect()
}

/// A rule reference good enough for the dispatcher's records (the span
/// is not kept in the log; the line is).
pub fn rule_ref(label: &RuleLabel) -> RuleRef {
    RuleRef {
        index: 0,
        name: label.name.as_deref().map(Arc::from),
        span: crate::lang::Span::default(),
        line: label.line,
    }
}

/// Milliseconds since the epoch: the unit of every time column.
pub fn to_millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// The inverse of [`to_millis`] (out-of-range values read as the epoch).
pub fn from_millis(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(millis)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// A duration in whole microseconds, saturating.
pub fn to_micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn actions_round_trip_through_their_json() {
        let actions = vec![
            Action::Transfer {
                to: Target::User(UserTarget::Email("alice@example.com".into())),
                fallbacks: vec![
                    Target::Team {
                        team: TeamTarget::Name("Sales".into()),
                        ringing: Some(Ringing::Random),
                    },
                    Target::User(UserTarget::Id(42)),
                    Target::Number("+18001234567".into()),
                ],
                skipped: vec![Skipped {
                    target: "last_agent".into(),
                    reason: "unknown".into(),
                }],
            },
            Action::Tag { tag: "VIP".into() },
            Action::Comment {
                text: "hello".into(),
            },
            Action::Keep {
                reason: Some("no rule matched".into()),
            },
        ];
        let json = serde_json::to_value(&actions).unwrap();
        assert_eq!(actions_from_json(&json).unwrap(), actions);
    }

    #[test]
    fn dispositions_round_trip() {
        for d in [
            Disposition::Decided,
            Disposition::Duplicate,
            Disposition::Skipped,
            Disposition::Applied,
            Disposition::Ignored,
            Disposition::Rejected,
        ] {
            assert_eq!(Disposition::parse(d.as_str()), d);
        }
    }

    #[test]
    fn millis_round_trip() {
        let at = Utc.timestamp_millis_opt(1_646_389_739_123).unwrap();
        assert_eq!(from_millis(to_millis(at)), at);
    }
}
