//! The syntax tree of a rules file, as written.
//!
//! Every node carries its [`Span`]. Literals are kept raw (an hour of `25`
//! is representable) so that the checker, not the parser, reports
//! impossible values with a precise span and a hint.

use super::span::{FileId, Span, Spanned};

pub type Ident = Spanned<String>;

/// One parsed rules file.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub id: FileId,
    pub items: Vec<Item>,
    /// Comments with their spans, kept for the formatter.
    pub comments: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Timezone(Spanned<String>),
    Definition(Definition),
    Rule(Rule),
}

/// `number NAME = ...`, `hours NAME = ...`, and the other named definitions.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub name: Ident,
    pub value: DefinitionValue,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DefinitionValue {
    /// `number main = 1234` (an Aircall number id) or `= "+33 1 76 36 06 95"` (digits).
    Number(IdOrText),
    Hours(HoursSpec),
    Holidays(HolidaySpec),
    /// `agent alice = "alice@example.com"` or `= 12345` (a user id).
    Agent(IdOrText),
    /// `team sales = "Sales"` or `= 42` (a team id).
    Team(IdOrText),
}

impl DefinitionValue {
    /// The keyword that introduces this kind of definition.
    pub fn keyword(&self) -> &'static str {
        match self {
            DefinitionValue::Number(_) => "number",
            DefinitionValue::Hours(_) => "hours",
            DefinitionValue::Holidays(_) => "holidays",
            DefinitionValue::Agent(_) => "agent",
            DefinitionValue::Team(_) => "team",
        }
    }
}

/// An integer id or a quoted text, as used by `number`, `agent` and `team`.
#[derive(Debug, Clone, PartialEq)]
pub enum IdOrText {
    Id(Spanned<u64>),
    Text(Spanned<String>),
}

impl IdOrText {
    pub fn span(&self) -> Span {
        match self {
            IdOrText::Id(id) => id.span,
            IdOrText::Text(text) => text.span,
        }
    }
}

/// `mon-fri 08:00-18:00, sat-sun 10:00-17:00 except holidays bank`
#[derive(Debug, Clone, PartialEq)]
pub struct HoursSpec {
    pub windows: Vec<Window>,
    /// Holiday sets during which these hours are closed.
    pub except: Vec<Ident>,
    pub span: Span,
}

/// One `DAYS START-END` window.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub days: Vec<DayRange>,
    pub start: Spanned<TimeOfDay>,
    pub end: Spanned<TimeOfDay>,
    pub span: Span,
}

/// `mon`, or `mon-fri` (a range may wrap: `fri-mon`).
#[derive(Debug, Clone, PartialEq)]
pub struct DayRange {
    pub first: Spanned<Day>,
    pub last: Option<Spanned<Day>>,
    pub span: Span,
}

/// Days of the week, Monday first (ISO 8601).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    pub const ALL: [Day; 7] = [
        Day::Mon,
        Day::Tue,
        Day::Wed,
        Day::Thu,
        Day::Fri,
        Day::Sat,
        Day::Sun,
    ];

    /// 0 for Monday .. 6 for Sunday.
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn from_index(index: usize) -> Day {
        Day::ALL[index % 7]
    }

    pub fn short_name(self) -> &'static str {
        ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][self.index()]
    }

    pub fn long_name(self) -> &'static str {
        [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
        ][self.index()]
    }

    pub fn from_chrono(weekday: chrono::Weekday) -> Day {
        Day::from_index(weekday.num_days_from_monday() as usize)
    }
}

/// A wall-clock time as written: `08:00`, `8` (a bare hour), `24:00`.
/// Not validated: `25:00` and `18:60` are representable so the checker can
/// point at them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay {
    pub hour: u32,
    pub minute: u32,
}

impl TimeOfDay {
    /// Minutes since midnight (meaningful once validated).
    pub fn minutes(self) -> u32 {
        self.hour * 60 + self.minute
    }
}

/// A calendar date as written (`2026-02-30` is representable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateLit {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

/// `holidays bank = 2026-12-25, 2026-12-24 from 14:00, ...`
#[derive(Debug, Clone, PartialEq)]
pub struct HolidaySpec {
    pub entries: Vec<HolidayEntry>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HolidayEntry {
    pub when: HolidayDate,
    /// A part day: `from 14:00`, `until 12:00`, or `09:00-12:00`.
    pub part: Option<PartDay>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HolidayDate {
    /// `2026-12-25`
    Date(Spanned<DateLit>),
    /// `2026-08-10..2026-08-14`, both ends included.
    Range(Spanned<DateLit>, Spanned<DateLit>),
    /// `every 05-01`: the same month and day each year.
    Yearly {
        month: Spanned<u32>,
        day: Spanned<u32>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum PartDay {
    From(Spanned<TimeOfDay>),
    Until(Spanned<TimeOfDay>),
    Between(Spanned<TimeOfDay>, Spanned<TimeOfDay>),
}

/// `rule "name" when CONDITION ACTIONS`, or the one-line `when CONDITION ACTIONS`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: Option<Spanned<String>>,
    pub condition: Expr,
    pub decision: RoutingAction,
    /// `tag "..."` and `comment "..."` lines after the decision.
    pub annotations: Vec<Annotation>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// `A or B or ...`: two operands or more, in source order. A chain is
    /// one node however long it is, so that no walk of a condition
    /// recurses once per operand (a 100,000-term chain would overflow the
    /// stack); only parentheses and `not` nest, and those are bounded.
    Or(Vec<Expr>),
    /// `A and B and ...`, as [`ExprKind::Or`].
    And(Vec<Expr>),
    Not(Box<Expr>),
    /// `( ... )`, kept so the formatter can print it back.
    Group(Box<Expr>),
    Test(Test),
}

/// An atomic condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// `SUBJECT == VALUE`, `SUBJECT in [..]`, `SUBJECT exists`, ...
    Compare {
        subject: Path,
        op: Spanned<CompareOp>,
        /// Absent for `exists`.
        operand: Option<Operand>,
    },
    /// `within hours office`, `outside hours(mon-fri 8-18) in "Europe/London"`
    Hours {
        outside: bool,
        hours: HoursRef,
        zone: Option<Spanned<String>>,
    },
    /// `during holidays bank [in "Zone"]`
    Holidays {
        holidays: Ident,
        zone: Option<Spanned<String>>,
    },
    /// `alice is available`, `last_agent is unavailable`
    Availability { who: TargetRef, available: bool },
    /// `always`: true for every call (a catch-all rule).
    Always,
}

/// A dotted subject such as `caller.country` or `contact.vip`.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub segments: Vec<Ident>,
    pub span: Span,
}

impl Path {
    pub fn dotted(&self) -> String {
        self.segments
            .iter()
            .map(|segment| segment.node.as_str())
            .collect::<Vec<_>>()
            .join(".")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    In,
    NotIn,
    StartsWith,
    Matches,
    Exists,
}

impl CompareOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::In => "in",
            CompareOp::NotIn => "not in",
            CompareOp::StartsWith => "starts with",
            CompareOp::Matches => "matches",
            CompareOp::Exists => "exists",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Value(Value),
    List(Vec<Value>, Span),
}

impl Operand {
    pub fn span(&self) -> Span {
        match self {
            Operand::Value(value) => value.span,
            Operand::List(_, span) => *span,
        }
    }
}

pub type Value = Spanned<ValueKind>;

#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    Text(String),
    Integer(i64),
    Bool(bool),
    /// A reference to a definition, e.g. `main` in `number == main`.
    Name(String),
}

/// The hours a time test refers to: a definition or an inline spec.
#[derive(Debug, Clone, PartialEq)]
pub enum HoursRef {
    Named(Ident),
    Inline(HoursSpec),
}

/// The routing decision of a rule.
#[derive(Debug, Clone, PartialEq)]
pub enum RoutingAction {
    /// `transfer to A, B, C`: the first target that resolves and is not
    /// known to be unavailable takes the call.
    Transfer { targets: Vec<Target>, span: Span },
    /// `keep`: leave the call to Aircall's own distribution.
    Keep(Span),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub kind: TargetRef,
    /// `ringing longest_idle|random|simultaneous` (teams only).
    pub ringing: Option<Spanned<Ringing>>,
    pub span: Span,
}

/// Who or where a call can go; also the subject of `is available`.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetRef {
    /// A quoted phone number: `"+18001234567"`.
    Phone(Spanned<String>),
    /// A definition: a `number` by digits, an `agent` or a `team`.
    Name(Ident),
    /// `agent`: the contact's own agent (`contact.agent`).
    ContactAgent(Span),
    /// `last_agent`: the agent of the caller's most recent answered call.
    LastAgent(Span),
    /// `user 123` or `agent 123`
    UserId(Spanned<u64>),
    /// `agent "x@y.z"` or `user "x@y.z"`
    UserEmail(Spanned<String>),
    /// `team "Name"`
    TeamName(Spanned<String>),
    /// `team sales`: a name that must be a `team` definition.
    TeamAlias(Ident),
    /// `team 42`
    TeamId(Spanned<u64>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ringing {
    LongestIdle,
    Random,
    Simultaneous,
}

impl Ringing {
    pub fn as_str(self) -> &'static str {
        match self {
            Ringing::LongestIdle => "longest_idle",
            Ringing::Random => "random",
            Ringing::Simultaneous => "simultaneous",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Annotation {
    /// `tag "VIP"`: tag the call in Aircall.
    Tag(Spanned<String>),
    /// `comment "text"`: add a note to the call.
    Comment(Spanned<String>),
}
