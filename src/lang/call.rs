//! What the evaluator knows about a call, and what it is told from outside.
//!
//! [`Call`] is built once per webhook (phone numbers parsed, the time zone
//! looked up) so that evaluating rules against it does no parsing at all.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::value::Contact;

/// An Aircall user, by id or by e-mail, as a rule or an input names one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UserRef {
    Id(u64),
    Email(String),
}

impl UserRef {
    /// `123` is an id, anything else an e-mail (as given to `--available`).
    pub fn parse(text: &str) -> UserRef {
        text.trim()
            .parse::<u64>()
            .map(UserRef::Id)
            .unwrap_or_else(|_| UserRef::Email(text.trim().to_owned()))
    }
}

impl std::fmt::Display for UserRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserRef::Id(id) => write!(f, "user {id}"),
            UserRef::Email(email) => f.write_str(email),
        }
    }
}

/// An Aircall team, by id or by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TeamRef {
    Id(u64),
    Name(String),
}

impl std::fmt::Display for TeamRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TeamRef::Id(id) => write!(f, "team {id}"),
            TeamRef::Name(name) => write!(f, "team {name:?}"),
        }
    }
}

/// An agent known by id, e-mail or both (call history knows both).
/// Comparisons match on either.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Agent {
    pub id: Option<u64>,
    pub email: Option<String>,
}

impl Agent {
    pub fn from_ref(user: &UserRef) -> Agent {
        match user {
            UserRef::Id(id) => Agent {
                id: Some(*id),
                email: None,
            },
            UserRef::Email(email) => Agent {
                id: None,
                email: Some(email.clone()),
            },
        }
    }

    /// The reference to transfer to: the id when known (no lookup needed).
    pub fn to_ref(&self) -> Option<UserRef> {
        self.id
            .map(UserRef::Id)
            .or_else(|| self.email.clone().map(UserRef::Email))
    }

    pub fn matches(&self, user: &UserRef) -> bool {
        match user {
            UserRef::Id(id) => self.id == Some(*id),
            UserRef::Email(email) => self
                .email
                .as_deref()
                .is_some_and(|own| own.eq_ignore_ascii_case(email)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
}

/// The caller's number, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Caller {
    /// E.164, e.g. `+443308186690`.
    pub e164: String,
    /// ISO 3166-1 alpha-2 region, e.g. `GB`, when the number has one.
    pub country: Option<String>,
}

/// The facts of one webhook event that rules can test.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The webhook event name, e.g. `call.created`.
    pub event: String,
    pub id: Option<i64>,
    pub direction: Option<Direction>,
    /// When the call happened: `data.started_at`, else the envelope's
    /// `timestamp`, else the time it was received.
    pub instant: DateTime<Utc>,
    /// `None` for anonymous or unparseable callers.
    pub caller: Option<Caller>,
    /// `data.number.id`: the Aircall line that was dialled.
    pub number_id: Option<u64>,
    /// `data.number.digits` in E.164.
    pub number_e164: Option<String>,
    /// `data.number.time_zone`, when it names a known zone.
    pub number_zone: Option<Tz>,
}

impl Call {
    /// Rules decide only inbound `call.created` events.
    pub fn is_decidable(&self) -> bool {
        self.event == "call.created" && self.direction == Some(Direction::Inbound)
    }
}

/// Whether an agent can take a call right now, as far as we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    Available,
    Unavailable,
    Unknown,
}

/// Where availability comes from: explain's options, or the server's
/// live view kept from webhooks.
pub trait AvailabilityView {
    fn presence(&self, user: &UserRef) -> Presence;
}

/// Availability when nothing is known about anyone.
#[derive(Debug, Clone, Copy, Default)]
pub struct NothingKnown;

impl AvailabilityView for NothingKnown {
    fn presence(&self, _user: &UserRef) -> Presence {
        Presence::Unknown
    }
}

/// A fixed availability list (explain's `--available`/`--unavailable`,
/// test cases).
#[derive(Debug, Clone, Default)]
pub struct AvailabilityList {
    pub available: Vec<UserRef>,
    pub unavailable: Vec<UserRef>,
}

impl AvailabilityView for AvailabilityList {
    fn presence(&self, user: &UserRef) -> Presence {
        let same = |other: &UserRef| match (user, other) {
            (UserRef::Email(a), UserRef::Email(b)) => a.eq_ignore_ascii_case(b),
            _ => user == other,
        };
        if self.unavailable.iter().any(same) {
            Presence::Unavailable
        } else if self.available.iter().any(same) {
            Presence::Available
        } else {
            Presence::Unknown
        }
    }
}

/// Everything from outside the event that rules may test.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub contact: Option<&'a Contact>,
    pub last_agent: Option<&'a Agent>,
    pub availability: &'a dyn AvailabilityView,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("contact", &self.contact)
            .field("last_agent", &self.last_agent)
            .finish_non_exhaustive()
    }
}

impl Context<'_> {
    /// No contact, no history, nobody's availability known.
    pub fn empty() -> Context<'static> {
        Context {
            contact: None,
            last_agent: None,
            availability: &NothingKnown,
        }
    }
}
