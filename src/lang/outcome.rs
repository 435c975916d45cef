//! What the evaluator returns: the decision and the reasons for it.

use std::sync::Arc;

use serde::Serialize;

use super::ast::Ringing;
use super::call::{TeamRef, UserRef};
use super::span::Span;

/// The result of evaluating a rule set against one call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub decision: Decision,
    /// `explain`: one entry per rule tried, in order, up to the deciding
    /// rule, each with its conditions. `evaluate`: only the deciding rule's
    /// entry (none when no rule matched), without conditions.
    pub trace: Vec<RuleTrace>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// The rule that decided; `None` when no rule matched (or the event is
    /// not one rules decide).
    pub rule: Option<RuleRef>,
    /// What to do with the call. Empty for events rules do not decide.
    pub actions: Vec<Action>,
    /// Why the event was not decided by rules (e.g. an outbound call).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<&'static str>,
}

impl Decision {
    /// The transfer, if the decision is one.
    pub fn transfer(&self) -> Option<(&Target, &[Target])> {
        self.actions.iter().find_map(|action| match action {
            Action::Transfer { to, fallbacks, .. } => Some((to, fallbacks.as_slice())),
            _ => None,
        })
    }
}

/// Identifies a rule for people: its name, file and line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleRef {
    /// Position in the rule set (0-based).
    #[serde(skip)]
    pub index: usize,
    pub name: Option<Arc<str>>,
    #[serde(skip)]
    pub span: Span,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Action {
    /// Transfer to `to`; the server tries `fallbacks` in order when `to`
    /// cannot be resolved in the Aircall directory.
    Transfer {
        to: Target,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        fallbacks: Vec<Target>,
        /// Targets passed over, with the reason (unresolved, unavailable).
        #[serde(skip_serializing_if = "Vec::is_empty")]
        skipped: Vec<Skipped>,
    },
    /// Leave the call to Aircall's own distribution.
    Keep {
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    Tag {
        tag: String,
    },
    Comment {
        text: String,
    },
}

/// Where a call goes. Serialises as an object with exactly one of `user`,
/// `team` or `number` (a team may add `ringing`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    User(UserTarget),
    Team {
        team: TeamTarget,
        ringing: Option<Ringing>,
    },
    /// E.164.
    Number(String),
}

impl Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        match self {
            Target::User(user) => map.serialize_entry("user", user)?,
            Target::Team { team, ringing } => {
                map.serialize_entry("team", team)?;
                if let Some(ringing) = ringing {
                    map.serialize_entry("ringing", ringing)?;
                }
            }
            Target::Number(number) => map.serialize_entry("number", number)?,
        }
        map.end()
    }
}

/// A user target: serialised as the bare id or e-mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum UserTarget {
    Id(u64),
    Email(String),
}

impl From<UserRef> for UserTarget {
    fn from(user: UserRef) -> Self {
        match user {
            UserRef::Id(id) => UserTarget::Id(id),
            UserRef::Email(email) => UserTarget::Email(email),
        }
    }
}

impl UserTarget {
    pub fn to_ref(&self) -> UserRef {
        match self {
            UserTarget::Id(id) => UserRef::Id(*id),
            UserTarget::Email(email) => UserRef::Email(email.clone()),
        }
    }
}

/// A team target: the bare id or name, plus the ringing strategy as a
/// sibling key when one was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum TeamTarget {
    Id(u64),
    Name(String),
}

impl From<TeamRef> for TeamTarget {
    fn from(team: TeamRef) -> Self {
        match team {
            TeamRef::Id(id) => TeamTarget::Id(id),
            TeamRef::Name(name) => TeamTarget::Name(name),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::User(UserTarget::Id(id)) => write!(f, "user {id}"),
            Target::User(UserTarget::Email(email)) => write!(f, "agent {email}"),
            Target::Team { team, .. } => match team {
                TeamTarget::Id(id) => write!(f, "team {id}"),
                TeamTarget::Name(name) => write!(f, "team {name:?}"),
            },
            Target::Number(number) => f.write_str(number),
        }
    }
}

/// A target the evaluator passed over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The target as written, e.g. `last_agent`.
    pub target: String,
    pub reason: String,
}

/// How one rule fared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleTrace {
    pub rule: RuleRef,
    pub matched: bool,
    /// Each atomic condition evaluated, in evaluation order (short-circuited
    /// conditions are absent). Filled only by `RuleSet::explain`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ConditionTrace>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConditionTrace {
    /// The condition's source text, e.g. `outside hours office`.
    pub text: String,
    #[serde(skip)]
    pub span: Span,
    pub line: u32,
    pub result: bool,
    /// The values it saw, e.g. `Sat 19:05 Europe/Paris; Saturday's window is 10:00-17:00`.
    pub detail: String,
}
