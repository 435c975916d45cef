//! The evaluator: decides where a call goes, and (for `explain`) why.
//!
//! [`RuleSet::evaluate`] (the server's hot path) and [`RuleSet::explain`]
//! run the very same code, `RuleSet::run`, monomorphised for two
//! tracers: one that records nothing, so the compiler removes every
//! description (no formatting, no allocation besides the [`Outcome`]), and
//! one that records each atomic condition with the values it saw.
//!
//! The evaluator never fails and never validates: the checker guaranteed
//! that names resolve and values have the right kinds. Missing facts
//! (an anonymous caller, no contact, no last agent) make tests false, never
//! errors. It does no I/O and does not read the clock: the instant is the
//! call's.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;

use super::ast::Day;
use super::call::{Agent, Call, Context, Presence, UserRef};
use super::outcome::{
    Action, ConditionTrace, Decision, Outcome, RuleRef, RuleTrace, Skipped, Target,
};
use super::rule_set::{
    AnnotationTemplate, CompiledRule, CompiledTest, Cond, DecisionTemplate, Field, FieldOp,
    NumberMatch, RuleSet, TargetTemplate, TestKind, UserSource, ZoneChoice,
};
use super::schedule::{HolidayCalendar, HolidayRule, WeeklyHours};
use super::source::Sources;
use super::value::Value;

/// Why an event got no decision.
pub const IGNORED: &str = "only inbound call.created events are decided by rules";

/// The reason of the `keep` decided when no rule matches.
pub const NO_RULE_MATCHED: &str = "no rule matched";

impl RuleSet {
    /// Decides a call. The trace has a single entry, the deciding rule's
    /// (none when no rule matched), without condition details: its cost
    /// does not grow with the rules that did not match.
    pub fn evaluate(&self, call: &Call, ctx: &Context<'_>) -> Outcome {
        self.run(call, ctx, &mut Quiet)
    }

    /// Decides a call exactly as [`RuleSet::evaluate`] does, and traces
    /// every rule tried, each with every atomic condition evaluated
    /// (short-circuited ones are absent): its source text, line, result and
    /// the values it saw.
    pub fn explain(&self, call: &Call, ctx: &Context<'_>) -> Outcome {
        self.run(
            call,
            ctx,
            &mut Full {
                sources: &self.sources,
                conditions: Vec::new(),
            },
        )
    }

    /// The one evaluation path: rules top to bottom, the first match decides.
    fn run<T: Tracer>(&self, call: &Call, ctx: &Context<'_>, tracer: &mut T) -> Outcome {
        if !call.is_decidable() {
            return Outcome {
                decision: Decision {
                    rule: None,
                    actions: Vec::new(),
                    ignored: Some(IGNORED),
                },
                trace: Vec::new(),
            };
        }
        let mut env = Env {
            rules: self,
            call,
            ctx,
            clock: Clock::new(call.instant),
            hours_seen: Memo::new(),
            holidays_seen: Memo::new(),
        };
        // explain: one allocation for the whole trace, whatever rule decides.
        // evaluate: nothing until a rule matches.
        let mut trace = if T::EVERY_RULE {
            Vec::with_capacity(self.rules.len())
        } else {
            Vec::new()
        };
        // evaluate: only the rules the index leaves possible (every other
        // rule is certain to fail); explain: every rule, for the trace.
        let decided = match self.index.as_ref().filter(|_| !T::EVERY_RULE) {
            Some(index) => {
                let mut candidates = Vec::new();
                index.candidates(call, ctx, &mut candidates);
                candidates.iter().find_map(|&position| {
                    let position = position as usize;
                    let rule = self.rules.get(position)?;
                    env.try_rule(position, rule, tracer, &mut trace)
                })
            }
            None => self
                .rules
                .iter()
                .enumerate()
                .find_map(|(position, rule)| env.try_rule(position, rule, tracer, &mut trace)),
        };
        if let Some(decision) = decided {
            return Outcome { decision, trace };
        }
        Outcome {
            decision: Decision {
                rule: None,
                actions: vec![Action::Keep {
                    reason: Some(NO_RULE_MATCHED.to_owned()),
                }],
                ignored: None,
            },
            trace,
        }
    }
}

fn rule_ref(index: usize, rule: &CompiledRule) -> RuleRef {
    RuleRef {
        index,
        name: rule.name.clone(),
        span: rule.span,
        line: rule.line,
    }
}

/// Receives each atomic condition's result. `detail` is called only by
/// tracers that keep it, so the quiet path never formats.
trait Tracer {
    /// Whether the trace has an entry for every rule tried, or only for
    /// the one that decided. Recording every rule costs tens of
    /// nanoseconds per rule (an entry, a reference count), which a
    /// 10,000-rule set cannot afford on every webhook.
    const EVERY_RULE: bool;

    fn record(&mut self, test: &CompiledTest, result: bool, detail: impl FnOnce() -> String);
    /// The conditions recorded since the last call (for one rule).
    fn take(&mut self) -> Vec<ConditionTrace>;
}

/// `evaluate`'s tracer: records nothing.
struct Quiet;

impl Tracer for Quiet {
    const EVERY_RULE: bool = false;

    #[inline(always)]
    fn record(&mut self, _test: &CompiledTest, _result: bool, _detail: impl FnOnce() -> String) {}

    #[inline(always)]
    fn take(&mut self) -> Vec<ConditionTrace> {
        Vec::new()
    }
}

/// `explain`'s tracer: every condition with its source text and details.
struct Full<'s> {
    sources: &'s Sources,
    conditions: Vec<ConditionTrace>,
}

impl Tracer for Full<'_> {
    const EVERY_RULE: bool = true;

    fn record(&mut self, test: &CompiledTest, result: bool, detail: impl FnOnce() -> String) {
        let text = self
            .sources
            .get(test.span.file)
            .map(|file| condition_text(file.slice(test.span)).to_owned())
            .unwrap_or_default();
        self.conditions.push(ConditionTrace {
            text,
            span: test.span,
            line: u32::try_from(self.sources.line_of(test.span)).unwrap_or(u32::MAX),
            result,
            detail: detail(),
        });
    }

    fn take(&mut self) -> Vec<ConditionTrace> {
        std::mem::take(&mut self.conditions)
    }
}

/// The call's instant in the zones time tests ask for, each converted once
/// per call (a rule set rarely uses more than a couple of zones).
struct Clock {
    instant: DateTime<Utc>,
    cached: [Option<(Tz, NaiveDateTime)>; 4],
    next: usize,
}

impl Clock {
    fn new(instant: DateTime<Utc>) -> Clock {
        Clock {
            instant,
            cached: [None; 4],
            next: 0,
        }
    }

    /// Wall-clock time in `zone`: an instant in a repeated (fall-back) hour
    /// reads as that hour, and no instant reads as a skipped one.
    fn local(&mut self, zone: Tz) -> NaiveDateTime {
        if let Some((_, local)) = self.cached.iter().flatten().find(|(tz, _)| *tz == zone) {
            return *local;
        }
        let local = self.instant.with_timezone(&zone).naive_local();
        let slot = self.next % self.cached.len();
        if let Some(entry) = self.cached.get_mut(slot) {
            *entry = Some((zone, local));
        }
        self.next = self.next.wrapping_add(1);
        local
    }
}

/// Results of time tests already computed for this call, by definition
/// index and zone: large rule sets test the same `hours office` in many
/// rules, and the answer cannot change within one call.
struct Memo<V: Copy> {
    slots: [Option<(usize, Tz, V)>; 8],
    next: usize,
}

impl<V: Copy> Memo<V> {
    fn new() -> Memo<V> {
        Memo {
            slots: [None; 8],
            next: 0,
        }
    }

    fn get_or(&mut self, index: usize, zone: Tz, compute: impl FnOnce() -> V) -> V {
        let hit = self
            .slots
            .iter()
            .flatten()
            .find(|(i, z, _)| *i == index && *z == zone);
        if let Some((_, _, value)) = hit {
            return *value;
        }
        let value = compute();
        let slot = self.next % self.slots.len();
        if let Some(entry) = self.slots.get_mut(slot) {
            *entry = Some((index, zone, value));
        }
        self.next = self.next.wrapping_add(1);
        value
    }
}

/// What `within hours` saw: whether the windows are open, and the `except`
/// holiday (calendar index and entry) that closes them.
type HoursSeen = (bool, Option<(usize, HolidayRule)>);

/// One evaluation: the rule set, the call and its context.
struct Env<'e> {
    rules: &'e RuleSet,
    call: &'e Call,
    ctx: &'e Context<'e>,
    clock: Clock,
    hours_seen: Memo<HoursSeen>,
    holidays_seen: Memo<Option<HolidayRule>>,
}

/// A value a field test saw.
#[derive(Clone, Copy)]
pub(super) enum Seen<'a> {
    Text(&'a str),
    Value(&'a Value),
    Agent(&'a Agent),
}

impl<'a> Seen<'a> {
    fn equals(self, literal: &Value) -> bool {
        match self {
            Seen::Text(text) => matches!(literal, Value::Text(literal) if same_text(literal, text)),
            Seen::Value(Value::Text(text)) => {
                matches!(literal, Value::Text(literal) if same_text(literal, text))
            }
            Seen::Value(value) => value.loosely_equals(literal),
            Seen::Agent(agent) => match literal {
                Value::Text(email) => agent
                    .email
                    .as_deref()
                    .is_some_and(|own| own.eq_ignore_ascii_case(email)),
                Value::Int(id) => agent.id.is_some_and(|own| u64::try_from(*id) == Ok(own)),
                _ => false,
            },
        }
    }

    /// The text `starts with` and `matches` look at; other kinds never match.
    fn text(self) -> Option<&'a str> {
        match self {
            Seen::Text(text) => Some(text),
            Seen::Value(value) => value.as_text(),
            Seen::Agent(agent) => agent.email.as_deref(),
        }
    }
}

impl fmt::Display for Seen<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Seen::Text(text) => write!(f, "{text:?}"),
            Seen::Value(value) => write!(f, "{value}"),
            Seen::Agent(agent) => match (&agent.email, agent.id) {
                (Some(email), Some(id)) => write!(f, "{email} (user {id})"),
                (Some(email), None) => f.write_str(email),
                (None, Some(id)) => write!(f, "user {id}"),
                (None, None) => f.write_str("unknown"),
            },
        }
    }
}

/// What a field test sees of `call` and `ctx` (`None`: the fact is
/// missing). The rule index reads fields through this too, so that it
/// never disagrees with the evaluator about what a call has.
pub(super) fn field_value<'a>(
    field: &Field,
    call: &'a Call,
    ctx: &Context<'a>,
) -> Option<Seen<'a>> {
    match field {
        Field::Caller => call.caller.as_ref().map(|caller| Seen::Text(&caller.e164)),
        Field::CallerCountry => call
            .caller
            .as_ref()
            .and_then(|caller| caller.country.as_deref())
            .map(Seen::Text),
        Field::Contact(name) => ctx
            .contact
            .and_then(|contact| contact.get(name))
            .map(Seen::Value),
        Field::LastAgent => ctx
            .last_agent
            .filter(|agent| agent.id.is_some() || agent.email.is_some())
            .map(Seen::Agent),
    }
}

/// Why a user (a transfer target or the subject of `is available`) could
/// not be named.
enum Unresolved<'a> {
    ContactHasNoAgent,
    InvalidContactAgent(&'a Value),
    NoHistory,
}

impl fmt::Display for Unresolved<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unresolved::ContactHasNoAgent => f.write_str("the caller has no contact.agent"),
            Unresolved::InvalidContactAgent(value) => {
                write!(f, "contact.agent is {value}, not an e-mail or a user id")
            }
            Unresolved::NoHistory => f.write_str("no last agent for this caller"),
        }
    }
}

/// A user as people read it: `agent alice@example.com`, `user 42`.
fn user_label(user: &UserRef) -> String {
    match user {
        UserRef::Id(id) => format!("user {id}"),
        UserRef::Email(email) => format!("agent {email}"),
    }
}

/// A user target as written in the rule.
fn source_label(source: &UserSource) -> String {
    match source {
        UserSource::Fixed(UserRef::Id(id)) => format!("user {id}"),
        UserSource::Fixed(UserRef::Email(email)) => format!("agent {email:?}"),
        UserSource::ContactAgent => "agent".to_owned(),
        UserSource::LastAgent => "last_agent".to_owned(),
    }
}

impl<'e> Env<'e> {
    /// Tries one rule: its trace entry (every rule for `explain`, the
    /// deciding one for `evaluate`), and its decision when it matches.
    fn try_rule<T: Tracer>(
        &mut self,
        position: usize,
        rule: &CompiledRule,
        tracer: &mut T,
        trace: &mut Vec<RuleTrace>,
    ) -> Option<Decision> {
        let matched = self.condition(&rule.condition, tracer);
        if T::EVERY_RULE || matched {
            trace.push(RuleTrace {
                rule: rule_ref(position, rule),
                matched,
                conditions: tracer.take(),
            });
        }
        matched.then(|| self.decide(position, rule))
    }

    /// Recurses only into a nested chain or a `not`, so its depth is the
    /// condition's nesting, not its length. A test operand is evaluated in
    /// the loop rather than through a call to `condition`: most operands
    /// are tests, and the call cost a few percent of a decision.
    fn condition<T: Tracer>(&mut self, condition: &Cond, tracer: &mut T) -> bool {
        match condition {
            Cond::And(operands) => operands.iter().all(|operand| match operand {
                Cond::Test(test) => self.test(test, tracer),
                nested => self.condition(nested, tracer),
            }),
            Cond::Or(operands) => operands.iter().any(|operand| match operand {
                Cond::Test(test) => self.test(test, tracer),
                nested => self.condition(nested, tracer),
            }),
            Cond::Not(inner) => !self.condition(inner, tracer),
            Cond::Test(test) => self.test(test, tracer),
        }
    }

    fn test<T: Tracer>(&mut self, test: &CompiledTest, tracer: &mut T) -> bool {
        match &test.kind {
            TestKind::Always => {
                tracer.record(test, true, || "always true".to_owned());
                true
            }
            TestKind::Number { any_of, negated } => {
                let result = self.number_test(any_of, *negated);
                tracer.record(test, result, || self.describe_number());
                result
            }
            TestKind::Field { field, op } => {
                let seen = field_value(field, self.call, self.ctx);
                let result = seen.is_some_and(|seen| compare(seen, op));
                tracer.record(test, result, || self.describe_field(field, seen));
                result
            }
            TestKind::Hours {
                hours: index,
                zone,
                outside,
            } => {
                let zone = self.zone(*zone);
                let local = self.clock.local(zone);
                let Some(hours) = self.rules.hours.get(*index) else {
                    // Unreachable for a checked rule set: closed.
                    tracer.record(test, *outside, || "unknown hours".to_owned());
                    return *outside;
                };
                let rules = self.rules;
                let (open, holiday) = self.hours_seen.get_or(*index, zone, || {
                    let open = hours.is_open_at(local);
                    // Holidays matter only when the windows are open.
                    let holiday = if open {
                        except_holiday(rules, hours, local)
                    } else {
                        None
                    };
                    (open, holiday)
                });
                let within = open && holiday.is_none();
                let result = within != *outside;
                tracer.record(test, result, || {
                    let holiday = holiday.and_then(|(calendar, rule)| {
                        rules
                            .holidays
                            .get(calendar)
                            .map(|calendar| (calendar, rule))
                    });
                    describe_hours(hours, local, zone, holiday)
                });
                result
            }
            TestKind::Holidays {
                holidays: index,
                zone,
            } => {
                let zone = self.zone(*zone);
                let local = self.clock.local(zone);
                let calendar = self.rules.holidays.get(*index);
                let covering = self.holidays_seen.get_or(*index, zone, || {
                    calendar.and_then(|calendar| calendar.covering(local))
                });
                let result = covering.is_some();
                tracer.record(test, result, || {
                    let name = calendar.map_or("?", |calendar| calendar.name.as_str());
                    let when = local.format("%a %Y-%m-%d %H:%M");
                    match covering {
                        Some(rule) => format!("{when} {}; holiday {name}: {rule}", zone.name()),
                        None => format!("{when} {}; no holiday of {name}", zone.name()),
                    }
                });
                result
            }
            TestKind::Availability { who, available } => {
                let user = self.resolve_user(who);
                let presence = user
                    .as_ref()
                    .ok()
                    .map(|user| self.ctx.availability.presence(user));
                let result = match presence {
                    Some(Presence::Available) => *available,
                    Some(Presence::Unavailable) => !*available,
                    Some(Presence::Unknown) | None => false,
                };
                tracer.record(test, result, || match (&user, presence) {
                    (Err(why), _) => why.to_string(),
                    (Ok(user), Some(Presence::Available)) => {
                        format!("{} is available", user_label(user))
                    }
                    (Ok(user), Some(Presence::Unavailable)) => {
                        format!("{} is unavailable", user_label(user))
                    }
                    (Ok(user), _) => format!("availability of {} is unknown", user_label(user)),
                });
                result
            }
        }
    }

    fn zone(&self, choice: ZoneChoice) -> Tz {
        match choice {
            ZoneChoice::Fixed(zone) => zone,
            ZoneChoice::FromCall => self.call.number_zone.unwrap_or(Tz::UTC),
        }
    }

    /// `number == main`: the call's line by id or digits. A call with
    /// neither fails the test whether or not it is negated (`!=`, `not in`);
    /// an empty `any_of` negated is `number exists`.
    fn number_test(&self, any_of: &[NumberMatch], negated: bool) -> bool {
        if self.call.number_id.is_none() && self.call.number_e164.is_none() {
            return false;
        }
        let matched = any_of.iter().any(|number| match number {
            NumberMatch::Id(id) => self.call.number_id == Some(*id),
            NumberMatch::E164(e164) => self.call.number_e164.as_deref() == Some(e164.as_str()),
        });
        matched != negated
    }

    fn describe_number(&self) -> String {
        match (self.call.number_id, &self.call.number_e164) {
            (Some(id), Some(e164)) => format!("number is {id} ({e164})"),
            (Some(id), None) => format!("number is {id}"),
            (None, Some(e164)) => format!("number is {e164}"),
            (None, None) => "the call has no number".to_owned(),
        }
    }

    fn describe_field(&self, field: &Field, seen: Option<Seen<'_>>) -> String {
        match (field, seen) {
            (Field::Caller, Some(seen)) => format!("caller is {seen}"),
            (Field::CallerCountry, Some(seen)) => format!("caller.country is {seen}"),
            (Field::Contact(name), Some(seen)) => format!("contact.{name} is {seen}"),
            (Field::LastAgent, Some(seen)) => format!("last_agent is {seen}"),
            (Field::Caller, None) => {
                "the caller is unknown (anonymous or not a phone number)".to_owned()
            }
            (Field::CallerCountry, None) => match &self.call.caller {
                Some(caller) => format!("caller {} has no country", caller.e164),
                None => "the caller is unknown (anonymous or not a phone number)".to_owned(),
            },
            (Field::Contact(_), None) if self.ctx.contact.is_none() => {
                "no contact for this caller".to_owned()
            }
            (Field::Contact(name), None) => format!("contact has no field {name:?}"),
            (Field::LastAgent, None) => "no last agent for this caller".to_owned(),
        }
    }

    /// Names the user a rule means. Borrowed when the rule names them.
    fn resolve_user<'s>(&self, source: &'s UserSource) -> Result<Cow<'s, UserRef>, Unresolved<'e>> {
        match source {
            UserSource::Fixed(user) => Ok(Cow::Borrowed(user)),
            UserSource::ContactAgent => {
                let value = self
                    .ctx
                    .contact
                    .and_then(|contact| contact.get("agent"))
                    .ok_or(Unresolved::ContactHasNoAgent)?;
                match value {
                    Value::Text(email) if !email.trim().is_empty() => {
                        Ok(Cow::Owned(UserRef::Email(email.trim().to_owned())))
                    }
                    Value::Int(id) => u64::try_from(*id)
                        .map(|id| Cow::Owned(UserRef::Id(id)))
                        .map_err(|_| Unresolved::InvalidContactAgent(value)),
                    _ => Err(Unresolved::InvalidContactAgent(value)),
                }
            }
            UserSource::LastAgent => self
                .ctx
                .last_agent
                .and_then(Agent::to_ref)
                .map(Cow::Owned)
                .ok_or(Unresolved::NoHistory),
        }
    }

    /// The actions of the rule that matched.
    fn decide(&self, index: usize, rule: &CompiledRule) -> Decision {
        let mut actions = Vec::with_capacity(1 + rule.annotations.len());
        match &rule.decision {
            DecisionTemplate::Keep => actions.push(Action::Keep { reason: None }),
            DecisionTemplate::Transfer(targets) => actions.push(self.transfer(targets)),
        }
        actions.extend(rule.annotations.iter().map(|annotation| match annotation {
            AnnotationTemplate::Tag(tag) => Action::Tag { tag: tag.clone() },
            AnnotationTemplate::Comment(text) => Action::Comment { text: text.clone() },
        }));
        Decision {
            rule: Some(rule_ref(index, rule)),
            actions,
            ignored: None,
        }
    }

    /// Resolves targets in order, passing over those that do not resolve
    /// and agents known to be unavailable; the first remaining one is `to`.
    fn transfer(&self, targets: &[TargetTemplate]) -> Action {
        let mut resolved = Vec::with_capacity(targets.len());
        let mut skipped = Vec::new();
        for target in targets {
            match target {
                TargetTemplate::Number(e164) => resolved.push(Target::Number(e164.clone())),
                TargetTemplate::Team { team, ringing } => resolved.push(Target::Team {
                    team: team.clone().into(),
                    ringing: *ringing,
                }),
                TargetTemplate::User(source) => match self.resolve_user(source) {
                    Err(why) => skipped.push(Skipped {
                        target: source_label(source),
                        reason: why.to_string(),
                    }),
                    Ok(user) if self.ctx.availability.presence(&user) == Presence::Unavailable => {
                        skipped.push(Skipped {
                            target: source_label(source),
                            reason: format!("{} is unavailable", user_label(&user)),
                        });
                    }
                    Ok(user) => resolved.push(Target::User(user.into_owned().into())),
                },
            }
        }
        if resolved.is_empty() {
            let reasons: Vec<&str> = skipped.iter().map(|skip| skip.reason.as_str()).collect();
            return Action::Keep {
                reason: Some(format!(
                    "no target of this rule could take the call: {}",
                    reasons.join("; ")
                )),
            };
        }
        let to = resolved.remove(0);
        Action::Transfer {
            to,
            fallbacks: resolved,
            skipped,
        }
    }
}

/// A condition's source text without the trailing blanks and comments a
/// test's span may end with (after an absent optional `in "Zone"`). A `#`
/// inside a quoted text is not a comment.
fn condition_text(text: &str) -> &str {
    let mut quoted = false;
    let mut escaped = false;
    for (at, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '#' if !quoted => return text.get(..at).unwrap_or(text).trim_end(),
            _ => {}
        }
    }
    text.trim_end()
}

/// The first `except` calendar entry covering `local`, with the calendar's
/// index.
fn except_holiday(
    rules: &RuleSet,
    hours: &WeeklyHours,
    local: NaiveDateTime,
) -> Option<(usize, HolidayRule)> {
    hours.except.iter().find_map(|&index| {
        let calendar = rules.holidays.get(index)?;
        calendar.covering(local).map(|rule| (index, rule))
    })
}

/// Text equality for the hot path. Rule literals and call facts are short
/// and mostly differ in length, first or last byte (`"ES"`/`"US"`, phone
/// numbers of one country), so those are checked inline before the full
/// comparison (a call to `memcmp`).
#[inline]
fn same_text(a: &str, b: &str) -> bool {
    same_bytes(a.as_bytes(), b.as_bytes())
}

#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.first() == b.first() && a.last() == b.last() && a == b
}

fn compare(seen: Seen<'_>, op: &FieldOp) -> bool {
    match op {
        FieldOp::Exists => true,
        FieldOp::Eq(literal) => seen.equals(literal),
        FieldOp::Ne(literal) => !seen.equals(literal),
        FieldOp::In(list) => list.iter().any(|literal| seen.equals(literal)),
        FieldOp::NotIn(list) => !list.iter().any(|literal| seen.equals(literal)),
        FieldOp::StartsWith(prefix) => seen.text().is_some_and(|text| {
            let (text, prefix) = (text.as_bytes(), prefix.as_bytes());
            text.get(..prefix.len())
                .is_some_and(|head| same_bytes(head, prefix))
        }),
        FieldOp::Matches(regex) => seen.text().is_some_and(|text| regex.is_match(text)),
    }
}

/// `Sat 19:05 Europe/Paris; Saturday's window is 10:00-17:00`, plus the
/// previous day's overnight window when it is the one open, and the
/// holiday that closed otherwise open hours.
fn describe_hours(
    hours: &WeeklyHours,
    local: NaiveDateTime,
    zone: Tz,
    holiday: Option<(&HolidayCalendar, HolidayRule)>,
) -> String {
    use chrono::Datelike;
    let day = Day::from_chrono(local.weekday());
    let mut text = format!("{} {}", local.format("%a %H:%M"), zone.name());
    let windows = hours.describe_day(day);
    if windows == "closed" {
        text.push_str(&format!("; {} is closed", day.long_name()));
    } else if windows.contains(", ") {
        text.push_str(&format!("; {}'s windows are {windows}", day.long_name()));
    } else {
        text.push_str(&format!("; {}'s window is {windows}", day.long_name()));
    }
    let minute = super::schedule::minute_of_day(local);
    for window in hours.spill_into(day).filter(|window| minute < window.end) {
        text.push_str(&format!(
            "; {}'s window {window} runs until {}",
            window.day.long_name(),
            super::schedule::ClockTime(window.end)
        ));
    }
    if let Some((calendar, rule)) = holiday {
        text.push_str(&format!("; closed for holiday {}: {rule}", calendar.name));
    }
    text
}

#[cfg(test)]
mod tests {
    //! The evaluator against hand-built rule sets (no parser involved);
    //! `tests/integration/eval.rs` covers the language end to end.
    #![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

    use std::collections::BTreeSet;
    use std::sync::Arc;

    use chrono::TimeZone;

    use super::*;
    use crate::lang::call::{AvailabilityList, Caller, Direction, TeamRef};
    use crate::lang::outcome::UserTarget;
    use crate::lang::schedule::DayWindow;
    use crate::lang::span::{FileId, Span};
    use crate::lang::value::Contact;

    /// The text the spans point into (a rules file in spirit).
    const TEXT: &str = "number == main\ncaller.country == \"ES\"\noutside hours office\n\
                        contact.agent exists\nalways\nlast_agent is available\n";

    fn span(needle: &str) -> Span {
        let start = TEXT.find(needle).unwrap();
        Span::new(FileId(0), start, start + needle.len())
    }

    fn test(needle: &str, kind: TestKind) -> Cond {
        Cond::Test(CompiledTest {
            span: span(needle),
            kind,
        })
    }

    fn rule(name: &str, condition: Cond, decision: DecisionTemplate) -> CompiledRule {
        CompiledRule {
            name: Some(Arc::from(name)),
            span: span("always"),
            line: 5,
            condition,
            decision,
            annotations: vec![AnnotationTemplate::Tag("routed".into())],
        }
    }

    fn rule_set(rules: Vec<CompiledRule>) -> RuleSet {
        let weekend = [Day::Sat, Day::Sun].map(|day| DayWindow {
            day,
            start: 600,
            end: 1020,
        });
        RuleSet {
            sources: Arc::new(Sources::single("t.rules", TEXT)),
            revision: "test".into(),
            symbols: Default::default(),
            index: crate::lang::index::RuleIndex::build(&rules),
            rules,
            hours: vec![WeeklyHours::new(
                Some("office".into()),
                weekend.to_vec(),
                vec![],
            )],
            holidays: vec![],
            contact_fields: BTreeSet::new(),
            uses_last_agent: true,
        }
    }

    fn call(unix: i64) -> Call {
        Call {
            event: "call.created".into(),
            id: Some(1),
            direction: Some(Direction::Inbound),
            instant: Utc.timestamp_opt(unix, 0).unwrap(),
            caller: Some(Caller {
                e164: "+34912345678".into(),
                country: Some("ES".into()),
            }),
            number_id: Some(1234),
            number_e164: None,
            number_zone: None,
        }
    }

    fn number_is_main() -> Cond {
        test(
            "number == main",
            TestKind::Number {
                any_of: vec![NumberMatch::Id(1234)],
                negated: false,
            },
        )
    }

    fn spanish() -> Cond {
        test(
            "caller.country == \"ES\"",
            TestKind::Field {
                field: Field::CallerCountry,
                op: FieldOp::Eq(Value::Text("ES".into())),
            },
        )
    }

    // 2026-03-07 18:05 UTC is Saturday 19:05 in Paris.
    const SAT_1905_PARIS: i64 = 1_772_906_700;

    #[test]
    fn events_other_than_inbound_call_created_are_ignored() {
        let rules = rule_set(vec![rule(
            "all",
            test("always", TestKind::Always),
            DecisionTemplate::Keep,
        )]);
        let mut outbound = call(0);
        outbound.direction = Some(Direction::Outbound);
        let mut answered = call(0);
        answered.event = "call.answered".into();
        for call in [outbound, answered] {
            let outcome = rules.explain(&call, &Context::empty());
            assert_eq!(outcome.decision.ignored, Some(IGNORED));
            assert!(outcome.decision.rule.is_none() && outcome.decision.actions.is_empty());
            assert!(outcome.trace.is_empty());
        }
    }

    #[test]
    fn and_short_circuits_and_explain_records_only_what_ran() {
        let condition = Cond::And(Box::new([number_is_main(), spanish()]));
        let rules = rule_set(vec![rule("es", condition, DecisionTemplate::Keep)]);
        let mut other_line = call(0);
        other_line.number_id = Some(99);
        let outcome = rules.explain(&other_line, &Context::empty());
        assert_eq!(
            outcome.decision.actions,
            vec![Action::Keep {
                reason: Some(NO_RULE_MATCHED.into())
            }]
        );
        let conditions = &outcome.trace[0].conditions;
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].text, "number == main");
        assert_eq!(conditions[0].line, 1);
        assert_eq!(conditions[0].detail, "number is 99");
        assert!(!conditions[0].result);

        let outcome = rules.explain(&call(0), &Context::empty());
        assert!(outcome.trace[0].matched);
        let details: Vec<&str> = outcome.trace[0]
            .conditions
            .iter()
            .map(|c| c.detail.as_str())
            .collect();
        assert_eq!(details, ["number is 1234", "caller.country is \"ES\""]);
        // evaluate gives the same decision with an empty condition list.
        let quiet = rules.evaluate(&call(0), &Context::empty());
        assert_eq!(quiet.decision, outcome.decision);
        assert!(quiet.trace[0].matched && quiet.trace[0].conditions.is_empty());
        assert_eq!(
            quiet.decision.actions,
            vec![
                Action::Keep { reason: None },
                Action::Tag {
                    tag: "routed".into()
                }
            ]
        );
    }

    #[test]
    fn a_call_without_a_number_fails_negated_number_tests_too() {
        let negated = test(
            "number == main",
            TestKind::Number {
                any_of: vec![NumberMatch::Id(1234)],
                negated: true,
            },
        );
        let rules = rule_set(vec![rule("not main", negated, DecisionTemplate::Keep)]);
        let mut no_number = call(0);
        no_number.number_id = None;
        let outcome = rules.explain(&no_number, &Context::empty());
        assert!(!outcome.trace[0].matched);
        assert_eq!(
            outcome.trace[0].conditions[0].detail,
            "the call has no number"
        );
        let mut other = call(0);
        other.number_id = Some(5);
        assert!(rules
            .evaluate(&other, &Context::empty())
            .decision
            .rule
            .is_some());
    }

    #[test]
    fn hours_details_name_the_local_time_and_the_window() {
        let outside = test(
            "outside hours office",
            TestKind::Hours {
                hours: 0,
                zone: ZoneChoice::Fixed(chrono_tz::Europe::Paris),
                outside: true,
            },
        );
        let rules = rule_set(vec![rule("after hours", outside, DecisionTemplate::Keep)]);
        let outcome = rules.explain(&call(SAT_1905_PARIS), &Context::empty());
        let condition = &outcome.trace[0].conditions[0];
        assert!(condition.result);
        assert_eq!(condition.text, "outside hours office");
        assert_eq!(condition.line, 3);
        assert_eq!(
            condition.detail,
            "Sat 19:05 Europe/Paris; Saturday's window is 10:00-17:00"
        );
        // Three hours earlier the window is open.
        let open = rules.explain(&call(SAT_1905_PARIS - 10_800), &Context::empty());
        assert!(!open.trace[0].matched);
        assert_eq!(
            open.trace[0].conditions[0].detail,
            "Sat 16:05 Europe/Paris; Saturday's window is 10:00-17:00"
        );
    }

    #[test]
    fn the_call_zone_is_used_when_the_rule_has_none() {
        let within = test(
            "outside hours office",
            TestKind::Hours {
                hours: 0,
                zone: ZoneChoice::FromCall,
                outside: false,
            },
        );
        let rules = rule_set(vec![rule("open", within, DecisionTemplate::Keep)]);
        // 18:05 UTC is closed in UTC, 10:05 in Los Angeles is open.
        let mut in_la = call(SAT_1905_PARIS);
        assert!(rules.evaluate(&in_la, &Context::empty()).trace.is_empty());
        in_la.number_zone = Some(chrono_tz::America::Los_Angeles);
        assert!(rules
            .evaluate(&in_la, &Context::empty())
            .decision
            .rule
            .is_some());
    }

    #[test]
    fn missing_facts_make_every_comparison_false() {
        let ops = [
            FieldOp::Exists,
            FieldOp::Eq(Value::Text("x".into())),
            FieldOp::Ne(Value::Text("x".into())),
            FieldOp::In(vec![Value::Int(1)]),
            FieldOp::NotIn(vec![Value::Int(1)]),
            FieldOp::StartsWith("x".into()),
            FieldOp::Matches(regex::Regex::new(".*").unwrap()),
        ];
        let mut anonymous = call(0);
        anonymous.caller = None;
        let empty = Contact::default();
        let contexts = [
            Context::empty(),
            Context {
                contact: Some(&empty),
                ..Context::empty()
            },
        ];
        for field in [
            Field::Caller,
            Field::CallerCountry,
            Field::Contact("agent".into()),
            Field::LastAgent,
        ] {
            for op in &ops {
                let condition = test(
                    "contact.agent exists",
                    TestKind::Field {
                        field: field.clone(),
                        op: op.clone(),
                    },
                );
                let rules = rule_set(vec![rule("r", condition, DecisionTemplate::Keep)]);
                for ctx in &contexts {
                    let outcome = rules.explain(&anonymous, ctx);
                    assert!(!outcome.trace[0].matched, "{field:?} {op:?}");
                }
            }
        }
        let condition = test(
            "contact.agent exists",
            TestKind::Field {
                field: Field::Contact("agent".into()),
                op: FieldOp::Exists,
            },
        );
        let rules = rule_set(vec![rule("r", condition, DecisionTemplate::Keep)]);
        let detail = |ctx: &Context<'_>| {
            rules.explain(&call(0), ctx).trace[0].conditions[0]
                .detail
                .clone()
        };
        assert_eq!(detail(&contexts[0]), "no contact for this caller");
        assert_eq!(detail(&contexts[1]), "contact has no field \"agent\"");
    }

    #[test]
    fn transfer_skips_unresolved_and_unavailable_targets() {
        let targets = vec![
            TargetTemplate::User(UserSource::LastAgent),
            TargetTemplate::User(UserSource::ContactAgent),
            TargetTemplate::User(UserSource::Fixed(UserRef::Id(7))),
            TargetTemplate::Team {
                team: TeamRef::Name("Sales".into()),
                ringing: None,
            },
        ];
        let rules = rule_set(vec![rule(
            "returning",
            test("always", TestKind::Always),
            DecisionTemplate::Transfer(targets),
        )]);
        let mut contact = Contact::default();
        contact.insert("agent", Value::Text("bob@example.com".into()));
        let availability = AvailabilityList {
            available: vec![],
            unavailable: vec![UserRef::Email("BOB@example.com".into())],
        };
        let ctx = Context {
            contact: Some(&contact),
            last_agent: None,
            availability: &availability,
        };
        let outcome = rules.evaluate(&call(0), &ctx);
        let Action::Transfer {
            to,
            fallbacks,
            skipped,
        } = &outcome.decision.actions[0]
        else {
            panic!("{:?}", outcome.decision);
        };
        assert_eq!(*to, Target::User(UserTarget::Id(7)));
        assert_eq!(fallbacks.len(), 1);
        assert_eq!(fallbacks[0].to_string(), "team \"Sales\"");
        assert_eq!(skipped[0].target, "last_agent");
        assert_eq!(skipped[0].reason, "no last agent for this caller");
        assert_eq!(skipped[1].target, "agent");
        assert_eq!(skipped[1].reason, "agent bob@example.com is unavailable");
        assert_eq!(
            outcome.decision.rule.as_ref().unwrap().name.as_deref(),
            Some("returning")
        );
    }

    #[test]
    fn transfer_with_no_remaining_target_keeps_the_call() {
        let targets = vec![
            TargetTemplate::User(UserSource::ContactAgent),
            TargetTemplate::User(UserSource::Fixed(UserRef::Email("a@example.com".into()))),
        ];
        let rules = rule_set(vec![rule(
            "agent",
            test("always", TestKind::Always),
            DecisionTemplate::Transfer(targets),
        )]);
        let mut contact = Contact::default();
        contact.insert("agent", Value::Bool(true));
        let availability = AvailabilityList {
            available: vec![],
            unavailable: vec![UserRef::Email("a@example.com".into())],
        };
        let ctx = Context {
            contact: Some(&contact),
            last_agent: None,
            availability: &availability,
        };
        let outcome = rules.evaluate(&call(0), &ctx);
        assert!(outcome.decision.rule.is_some());
        assert_eq!(
            outcome.decision.actions[0],
            Action::Keep {
                reason: Some(
                    "no target of this rule could take the call: contact.agent is true, not an e-mail or a \
                     user id; agent a@example.com is unavailable"
                        .into()
                )
            }
        );
    }

    #[test]
    fn availability_of_the_last_agent() {
        let condition = test(
            "last_agent is available",
            TestKind::Availability {
                who: UserSource::LastAgent,
                available: true,
            },
        );
        let rules = rule_set(vec![rule("vip", condition, DecisionTemplate::Keep)]);
        let agent = Agent {
            id: Some(42),
            email: Some("alice@example.com".into()),
        };
        let availability = AvailabilityList {
            available: vec![UserRef::Id(42)],
            unavailable: vec![],
        };
        let ctx = Context {
            contact: None,
            last_agent: Some(&agent),
            availability: &availability,
        };
        let outcome = rules.explain(&call(0), &ctx);
        assert!(outcome.trace[0].matched);
        assert_eq!(
            outcome.trace[0].conditions[0].detail,
            "user 42 is available"
        );
        let unknown = Context {
            availability: &crate::lang::call::NothingKnown,
            ..ctx
        };
        let outcome = rules.explain(&call(0), &unknown);
        assert!(!outcome.trace[0].matched);
        assert_eq!(
            outcome.trace[0].conditions[0].detail,
            "availability of user 42 is unknown"
        );
    }

    #[test]
    fn condition_text_drops_trailing_comments_but_not_quoted_hashes() {
        assert_eq!(
            condition_text("within hours office   # office\n  "),
            "within hours office"
        );
        assert_eq!(
            condition_text("contact.ref == \"#1\""),
            "contact.ref == \"#1\""
        );
        assert_eq!(
            condition_text("contact.ref == \"a\\\"#\" # c"),
            "contact.ref == \"a\\\"#\""
        );
        assert_eq!(condition_text("always \t\n"), "always");
    }

    #[test]
    fn clock_converts_each_zone_once_and_correctly() {
        let mut clock = Clock::new(Utc.timestamp_opt(SAT_1905_PARIS, 0).unwrap());
        let zones = [
            chrono_tz::Europe::Paris,
            chrono_tz::UTC,
            chrono_tz::Asia::Tokyo,
            chrono_tz::America::New_York,
            chrono_tz::Australia::Sydney,
            chrono_tz::Europe::Paris,
        ];
        for zone in zones {
            let expected = clock.instant.with_timezone(&zone).naive_local();
            assert_eq!(clock.local(zone), expected);
            assert_eq!(clock.local(zone), expected);
        }
    }
}
