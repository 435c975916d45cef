//! The checked, immutable, evaluation-ready form of a rule set.
//!
//! A [`RuleSet`] exists only when checking found no error: names are
//! resolved, regexes compiled, time zones looked up, phone numbers in E.164.
//! The evaluator relies on that and never validates again.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono_tz::Tz;
use regex::Regex;

use super::ast::Ringing;
use super::call::{TeamRef, UserRef};
use super::index::RuleIndex;
use super::schedule::{HolidayCalendar, WeeklyHours};
use super::source::Sources;
use super::span::Span;
use super::symbols::{SymbolValue, Symbols};
use super::value::Value;

#[derive(Debug, Clone)]
pub struct RuleSet {
    pub(crate) sources: Arc<Sources>,
    /// A short content hash of every file's name and text.
    pub(crate) revision: String,
    /// Every definition as resolved, and each file's `timezone`.
    pub(crate) symbols: Symbols,
    pub(crate) rules: Vec<CompiledRule>,
    pub(crate) hours: Vec<WeeklyHours>,
    pub(crate) holidays: Vec<HolidayCalendar>,
    /// Contact fields the rules read (`contact.vip`, and `agent` when a rule
    /// transfers to the contact's agent). Empty means no lookup is needed.
    pub(crate) contact_fields: BTreeSet<String>,
    pub(crate) uses_last_agent: bool,
    /// Which rules a call can match, for large sets (`evaluate` only).
    pub(crate) index: Option<RuleIndex>,
}

impl RuleSet {
    pub fn revision(&self) -> &str {
        &self.revision
    }

    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Whether any rule reads `contact.*` (so the contact is worth looking up).
    pub fn uses_contact(&self) -> bool {
        !self.contact_fields.is_empty()
    }

    pub fn contact_fields(&self) -> impl Iterator<Item = &str> {
        self.contact_fields.iter().map(String::as_str)
    }

    pub fn uses_last_agent(&self) -> bool {
        self.uses_last_agent
    }

    /// Every definition as the checker resolved it.
    pub fn symbols(&self) -> &Symbols {
        &self.symbols
    }

    /// Names and lines of the rules, in order.
    pub fn rules(&self) -> impl Iterator<Item = RuleInfo<'_>> {
        self.rules
            .iter()
            .enumerate()
            .map(|(index, rule)| self.rule_info(index, rule))
    }

    /// The rule at `index` (as [`RuleInfo::index`] gives it).
    pub fn rule(&self, index: usize) -> Option<RuleInfo<'_>> {
        Some(self.rule_info(index, self.rules.get(index)?))
    }

    fn rule_info<'a>(&'a self, index: usize, rule: &'a CompiledRule) -> RuleInfo<'a> {
        RuleInfo {
            index,
            name: rule.name.as_deref(),
            file: self.sources.file_name(rule.span.file),
            line: rule.line,
            zone: self.symbols.zone_of(rule.span.file),
        }
    }

    /// The calendar of a named `hours` definition, for `switchboard calendar`.
    pub fn hours_named(&self, name: &str) -> Option<&WeeklyHours> {
        match self.symbols.get(name)?.value {
            SymbolValue::Hours(index) => self.hours.get(index),
            _ => None,
        }
    }
}

/// A rule's identity for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleInfo<'a> {
    pub index: usize,
    pub name: Option<&'a str>,
    pub file: &'a str,
    pub line: u32,
    /// The `timezone` of its file: the zone its time tests read, unless a
    /// test names its own.
    pub zone: Option<Tz>,
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledRule {
    pub(crate) name: Option<Arc<str>>,
    pub(crate) span: Span,
    /// 1-based line of the rule's first token.
    pub(crate) line: u32,
    pub(crate) condition: Cond,
    pub(crate) decision: DecisionTemplate,
    pub(crate) annotations: Vec<AnnotationTemplate>,
}

#[derive(Debug, Clone)]
pub(crate) enum Cond {
    /// Two operands or more, none of them an `And` itself (the checker
    /// flattens `(a and b) and c`): a chain of any length is one node, so
    /// recursion over a condition is bounded by its nesting of `not` and
    /// parentheses, never by its length.
    And(Box<[Cond]>),
    /// As [`Cond::And`], none of the operands an `Or`.
    Or(Box<[Cond]>),
    Not(Box<Cond>),
    Test(CompiledTest),
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledTest {
    pub(crate) span: Span,
    pub(crate) kind: TestKind,
}

#[derive(Debug, Clone)]
pub(crate) enum TestKind {
    /// `number == main`, `number in [main, paris]` (negated for `!=`/`not in`).
    Number {
        any_of: Vec<NumberMatch>,
        negated: bool,
    },
    /// A comparison on a field of the call or the contact.
    Field {
        field: Field,
        op: FieldOp,
    },
    /// `within hours X` / `outside hours X`: an index into `RuleSet::hours`.
    Hours {
        hours: usize,
        zone: ZoneChoice,
        outside: bool,
    },
    /// `during holidays X`: an index into `RuleSet::holidays`.
    Holidays {
        holidays: usize,
        zone: ZoneChoice,
    },
    /// `X is available` / `X is unavailable`.
    Availability {
        who: UserSource,
        available: bool,
    },
    Always,
}

/// One alias in a `number` test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NumberMatch {
    /// Compared with `data.number.id`.
    Id(u64),
    /// Compared with `data.number.digits` in E.164.
    E164(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Field {
    /// The caller's E.164 number (text).
    Caller,
    /// The caller's ISO 3166 region (text).
    CallerCountry,
    /// `contact.NAME`.
    Contact(String),
    /// The agent of the caller's last answered call (an id or e-mail).
    LastAgent,
}

#[derive(Debug, Clone)]
pub(crate) enum FieldOp {
    Eq(Value),
    Ne(Value),
    In(Vec<Value>),
    NotIn(Vec<Value>),
    StartsWith(String),
    Matches(Regex),
    Exists,
}

/// Which time zone a time test reads the clock in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ZoneChoice {
    /// The test's own `in "Zone"`, else the file's `timezone`.
    Fixed(Tz),
    /// The call's `data.number.time_zone`, else UTC.
    FromCall,
}

/// Whose availability, or which agent a transfer goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UserSource {
    Fixed(UserRef),
    /// `agent`: the contact's `agent` field.
    ContactAgent,
    /// `last_agent`.
    LastAgent,
}

#[derive(Debug, Clone)]
pub(crate) enum DecisionTemplate {
    Transfer(Vec<TargetTemplate>),
    Keep,
}

#[derive(Debug, Clone)]
pub(crate) enum TargetTemplate {
    /// An external or Aircall number in E.164.
    Number(String),
    User(UserSource),
    Team {
        team: TeamRef,
        ringing: Option<Ringing>,
    },
}

#[derive(Debug, Clone)]
pub(crate) enum AnnotationTemplate {
    Tag(String),
    Comment(String),
}
