//! Conditions: subjects, operators and the kinds of values they compare.
//!
//! | Subject | Kind | Operators | Values |
//! | --- | --- | --- | --- |
//! | `number` | an Aircall number | `==` `!=` `in` `not in` `exists` | `number` definitions, quoted digits |
//! | `caller` | a phone number (text) | all | quoted phone numbers (compared in E.164), `number` definitions by digits; `starts with "+33"`; `matches` |
//! | `caller.country` | an ISO 3166 code (text) | all | quoted codes, upper-cased |
//! | `contact.FIELD` | any scalar | all | text, integers, booleans, `agent` definitions |
//! | `last_agent` | an agent | `==` `!=` `in` `not in` `exists` | `agent` definitions, e-mails, user ids |
//!
//! `number exists` is lowered as "the call's number is not in the empty
//! list", which the evaluator defines as true exactly when the call has a
//! number. Problems are reported and lowering goes on with a harmless
//! placeholder, so one pass finds everything; a rule set with a placeholder
//! is never built because the error count is not zero.

use std::fmt;

use chrono_tz::Tz;

use super::names::{Kind, Resolved};
use super::{Checker, NumberAlias};
use crate::lang::ast::{self, CompareOp, ExprKind, HoursRef, Operand, TargetRef, ValueKind};
use crate::lang::call::UserRef;
use crate::lang::code::Code;
use crate::lang::diagnostic::Diagnostic;
use crate::lang::rule_set::{
    CompiledTest, Cond, Field, FieldOp, NumberMatch, TestKind, UserSource, ZoneChoice,
};
use crate::lang::span::Span;
use crate::lang::suggest;
use crate::lang::value::Value;

/// A subject path for messages, written out only when a message is built
/// (checking a valid rule allocates nothing for it).
#[derive(Debug, Clone, Copy)]
struct Dotted<'p>(&'p ast::Path);

impl fmt::Display for Dotted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, segment) in self.0.segments.iter().enumerate() {
            if index > 0 {
                f.write_str(".")?;
            }
            f.write_str(&segment.node)?;
        }
        Ok(())
    }
}

/// What a comparison's left-hand side is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Subject {
    Number,
    Field(Field),
}

/// The subjects a user can write, for "did you mean".
const SUBJECTS: [&str; 5] = [
    "number",
    "caller",
    "caller.country",
    "last_agent",
    "contact",
];

impl Field {
    /// The field's kind in a sentence.
    fn described(&self) -> &'static str {
        match self {
            Field::Caller => "a phone number",
            Field::CallerCountry => "a country code",
            Field::Contact(_) => "a contact field",
            Field::LastAgent => "an agent",
        }
    }
}

/// A subject's kind in a sentence; `None` is `number`.
fn describe_subject(field: Option<&Field>) -> &'static str {
    match field {
        None => Kind::Number.described(),
        Some(field) => field.described(),
    }
}

/// The operators a subject has.
fn operators(subject: &Subject) -> &'static [CompareOp] {
    use CompareOp::{Eq, Exists, In, Matches, Ne, NotIn, StartsWith};
    match subject {
        Subject::Number | Subject::Field(Field::LastAgent) => &[Eq, Ne, In, NotIn, Exists],
        Subject::Field(_) => &[Eq, Ne, In, NotIn, StartsWith, Matches, Exists],
    }
}

/// A placeholder for a test that had an error (never evaluated).
fn placeholder() -> TestKind {
    TestKind::Always
}

impl Checker<'_> {
    /// Lowers a rule's condition.
    pub(super) fn lower_condition(&mut self, expr: &ast::Expr, file_zone: Option<Tz>) -> Cond {
        match &expr.kind {
            ExprKind::Or(operands) => Cond::Or(self.lower_chain(operands, false, file_zone)),
            ExprKind::And(operands) => Cond::And(self.lower_chain(operands, true, file_zone)),
            ExprKind::Not(inner) => Cond::Not(Box::new(self.lower_condition(inner, file_zone))),
            ExprKind::Group(inner) => self.lower_condition(inner, file_zone),
            ExprKind::Test(test) => Cond::Test(CompiledTest {
                span: expr.span,
                kind: self.lower_test(test, file_zone),
            }),
        }
    }

    /// The operands of an `and` (`is_and`) or `or` chain, with those of a
    /// parenthesised chain of the same operator spliced in: `(a or b) or c`
    /// evaluates as `a or b or c`, one level shallower.
    fn lower_chain(
        &mut self,
        operands: &[ast::Expr],
        is_and: bool,
        file_zone: Option<Tz>,
    ) -> Box<[Cond]> {
        let mut lowered = Vec::with_capacity(operands.len());
        for operand in operands {
            match self.lower_condition(operand, file_zone) {
                Cond::And(inner) if is_and => lowered.extend(inner.into_vec()),
                Cond::Or(inner) if !is_and => lowered.extend(inner.into_vec()),
                other => lowered.push(other),
            }
        }
        lowered.into_boxed_slice()
    }

    fn lower_test(&mut self, test: &ast::Test, file_zone: Option<Tz>) -> TestKind {
        match test {
            ast::Test::Always => TestKind::Always,
            ast::Test::Compare {
                subject,
                op,
                operand,
            } => self.lower_compare(subject, op.node, op.span, operand.as_ref()),
            ast::Test::Hours {
                outside,
                hours,
                zone,
            } => {
                let index = match hours {
                    HoursRef::Named(ident) => self.hours_named(ident, *outside),
                    HoursRef::Inline(spec) => {
                        let (hours, boundaries) = self.lower_hours_spec(spec, None);
                        self.hours.push(hours);
                        self.boundaries.push(boundaries);
                        Some(self.hours.len() - 1)
                    }
                };
                let zone = self.zone_choice(zone.as_ref(), file_zone);
                let Some(index) = index else {
                    return placeholder();
                };
                if let ZoneChoice::Fixed(tz) = zone {
                    if self.zoned_hours_seen.insert((index, tz)) {
                        self.zoned_hours.push((index, tz));
                    }
                }
                TestKind::Hours {
                    hours: index,
                    zone,
                    outside: *outside,
                }
            }
            ast::Test::Holidays { holidays, zone } => {
                let index = self.holidays_named(holidays);
                let zone = self.zone_choice(zone.as_ref(), file_zone);
                match index {
                    Some(index) => TestKind::Holidays {
                        holidays: index,
                        zone,
                    },
                    None => placeholder(),
                }
            }
            ast::Test::Availability { who, available } => match self.availability_of(who) {
                Some(who) => TestKind::Availability {
                    who,
                    available: *available,
                },
                None => placeholder(),
            },
        }
    }

    /// Resolves `within hours NAME`; named hours have the slot as index.
    fn hours_named(&mut self, ident: &ast::Ident, outside: bool) -> Option<usize> {
        match self.names.lookup(&ident.node) {
            Some(found) if found.kind == Kind::Hours => Some(found.slot),
            Some(found) => {
                let help = (found.kind == Kind::Holidays).then(|| {
                    if outside {
                        format!(
                            "to test for holidays, write `not during holidays {}`",
                            ident.node
                        )
                    } else {
                        format!(
                            "to test for holidays, write `during holidays {}`",
                            ident.node
                        )
                    }
                });
                self.wrong_kind(ident, found, "hours", help);
                None
            }
            None => {
                self.unknown_name(ident, "hours", &[Kind::Hours]);
                None
            }
        }
    }

    fn holidays_named(&mut self, ident: &ast::Ident) -> Option<usize> {
        match self.names.lookup(&ident.node) {
            Some(found) if found.kind == Kind::Holidays => Some(found.slot),
            Some(found) => {
                let help = (found.kind == Kind::Hours)
                    .then(|| format!("to test opening hours, write `within hours {}`", ident.node));
                self.wrong_kind(ident, found, "holidays", help);
                None
            }
            None => {
                self.unknown_name(ident, "holidays", &[Kind::Holidays]);
                None
            }
        }
    }

    /// Whose availability `X is available` asks about: only agents have one.
    fn availability_of(&mut self, who: &TargetRef) -> Option<UserSource> {
        match who {
            TargetRef::Name(ident) => match self.names.lookup(&ident.node) {
                Some(found) if found.kind == Kind::Agent => {
                    self.agents.get(found.slot).cloned().map(UserSource::Fixed)
                }
                Some(found) => {
                    self.wrong_kind(
                        ident,
                        found,
                        "an agent",
                        Some("only agents have an availability".to_owned()),
                    );
                    None
                }
                None => {
                    self.unknown_name(ident, "agent", &[Kind::Agent]);
                    None
                }
            },
            TargetRef::ContactAgent(_) => {
                self.reads_contact_field("agent");
                Some(UserSource::ContactAgent)
            }
            TargetRef::LastAgent(_) => {
                self.uses_last_agent = true;
                Some(UserSource::LastAgent)
            }
            TargetRef::UserId(id) => Some(UserSource::Fixed(UserRef::Id(id.node))),
            TargetRef::UserEmail(email) => {
                self.check_email(email.span, &email.node);
                Some(UserSource::Fixed(UserRef::Email(email.node.clone())))
            }
            TargetRef::Phone(text) => {
                self.no_availability(text.span, "a phone number");
                None
            }
            TargetRef::TeamName(team) => {
                self.no_availability(team.span, "a team");
                None
            }
            TargetRef::TeamAlias(team) => {
                self.no_availability(team.span, "a team");
                None
            }
            TargetRef::TeamId(team) => {
                self.no_availability(team.span, "a team");
                None
            }
        }
    }

    fn no_availability(&mut self, span: Span, what: &str) {
        self.report(
            Diagnostic::new(
                Code::WrongKind,
                span,
                format!("{} is {what}, not an agent", self.text(span)),
            )
            .with_help("only agents have an availability: use an agent, `user 123` or `agent \"x@example.com\"`"),
        );
    }

    /// Resolves a subject path, reporting an unknown one.
    fn subject(&mut self, path: &ast::Path) -> Option<Subject> {
        let segment = |index: usize| path.segments.get(index).map(|s| s.node.as_str());
        match (path.segments.len(), segment(0), segment(1)) {
            (1, Some("number"), _) => return Some(Subject::Number),
            (1, Some("caller"), _) => return Some(Subject::Field(Field::Caller)),
            (2, Some("caller"), Some("country")) => {
                return Some(Subject::Field(Field::CallerCountry))
            }
            (1, Some("last_agent"), _) => {
                self.uses_last_agent = true;
                return Some(Subject::Field(Field::LastAgent));
            }
            (2, Some("contact"), Some(field)) => {
                self.reads_contact_field(field);
                return Some(Subject::Field(Field::Contact(field.to_owned())));
            }
            _ => {}
        }
        let segments: Vec<&str> = path.segments.iter().map(|s| s.node.as_str()).collect();
        let dotted = path.dotted();
        let mut diagnostic = Diagnostic::new(
            Code::UnknownSubject,
            path.span,
            format!("unknown subject `{dotted}`"),
        );
        let help = match segments.as_slice() {
            ["contact"] => Some("name a field of the contact, such as `contact.vip`".to_owned()),
            ["contact", ..] => Some(format!(
                "a contact field is one name after `contact.`, such as `contact.{}`",
                segments.get(1).copied().unwrap_or("vip")
            )),
            [first, rest @ ..] => {
                if let Some(found) = suggest::closest(&dotted, SUBJECTS) {
                    Some(suggest::did_you_mean(found))
                } else if !rest.is_empty() && suggest::closest(first, ["contact"]).is_some() {
                    Some(suggest::did_you_mean(&format!(
                        "contact.{}",
                        rest.join(".")
                    )))
                } else {
                    None
                }
            }
            [] => None,
        };
        diagnostic = diagnostic.with_help(help.unwrap_or_else(|| {
            "a condition tests `number`, `caller`, `caller.country`, `contact.FIELD` or \
             `last_agent`"
                .to_owned()
        }));
        self.report(diagnostic);
        None
    }

    fn lower_compare(
        &mut self,
        path: &ast::Path,
        op: CompareOp,
        op_span: Span,
        operand: Option<&Operand>,
    ) -> TestKind {
        let Some(subject) = self.subject(path) else {
            return placeholder();
        };
        let subject_text = Dotted(path);
        if !operators(&subject).contains(&op) {
            let list = operators(&subject)
                .iter()
                .map(|op| format!("`{}`", op.as_str()))
                .collect::<Vec<_>>()
                .join(", ");
            self.report(
                Diagnostic::new(
                    Code::UnsupportedOperator,
                    op_span,
                    format!("`{}` does not apply to `{subject_text}`", op.as_str()),
                )
                .with_help(format!("`{subject_text}` can use {list}")),
            );
            return placeholder();
        }
        let values: &[ast::Value] = match (op, operand) {
            (CompareOp::Exists, _) | (_, None) => &[],
            (CompareOp::In | CompareOp::NotIn, Some(Operand::List(values, _))) => values,
            (_, Some(Operand::Value(value))) => std::slice::from_ref(value),
            (_, Some(Operand::List(_, span))) => {
                self.report(
                    Diagnostic::new(
                        Code::TypeMismatch,
                        *span,
                        format!("`{}` compares with one value, not a list", op.as_str()),
                    )
                    .with_help(if op == CompareOp::Ne {
                        "use `not in [...]` to compare with a list"
                    } else {
                        "use `in [...]` to compare with a list"
                    }),
                );
                return placeholder();
            }
        };
        match subject {
            Subject::Number => self.number_test(subject_text, op, values),
            Subject::Field(field) => self.field_test(field, subject_text, op, values),
        }
    }

    /// `number == main`, `number in [main, "+33 ..."]`, `number exists`.
    fn number_test(
        &mut self,
        subject: Dotted<'_>,
        op: CompareOp,
        values: &[ast::Value],
    ) -> TestKind {
        if op == CompareOp::Exists {
            return TestKind::Number {
                any_of: Vec::new(),
                negated: true,
            };
        }
        let mut any_of = Vec::with_capacity(values.len());
        let mut ok = true;
        for value in values {
            match self.number_value(subject, value) {
                Some(found) => any_of.push(found),
                None => ok = false,
            }
        }
        if !ok {
            return placeholder();
        }
        TestKind::Number {
            any_of,
            negated: matches!(op, CompareOp::Ne | CompareOp::NotIn),
        }
    }

    fn number_value(&mut self, subject: Dotted<'_>, value: &ast::Value) -> Option<NumberMatch> {
        match &value.node {
            ValueKind::Name(name) => {
                let ident = ast::Ident::new(name.clone(), value.span);
                match self.names.lookup(name) {
                    Some(found) if found.kind == Kind::Number => {
                        match self.numbers.get(found.slot)? {
                            NumberAlias::Id(id) => Some(NumberMatch::Id(*id)),
                            NumberAlias::E164(e164) => Some(NumberMatch::E164(e164.clone())),
                            NumberAlias::Invalid => None,
                        }
                    }
                    Some(found) => {
                        self.mismatch(subject, None, value, Some(found));
                        None
                    }
                    None => {
                        self.unknown_name(&ident, "number", &[Kind::Number]);
                        None
                    }
                }
            }
            ValueKind::Text(text) => match self.normalize_phone(text) {
                Some(e164) => Some(NumberMatch::E164(e164)),
                None => {
                    self.not_a_phone_number(value.span, text);
                    None
                }
            },
            ValueKind::Integer(_) | ValueKind::Bool(_) => {
                self.mismatch(subject, None, value, None);
                None
            }
        }
    }

    /// A comparison on a field of the call, the contact or the history.
    fn field_test(
        &mut self,
        field: Field,
        subject: Dotted<'_>,
        op: CompareOp,
        values: &[ast::Value],
    ) -> TestKind {
        let op = match op {
            CompareOp::Exists => Some(FieldOp::Exists),
            CompareOp::StartsWith => values
                .first()
                .and_then(|value| self.prefix_value(&field, subject, value))
                .map(FieldOp::StartsWith),
            CompareOp::Matches => values
                .first()
                .and_then(|value| self.pattern_value(subject, value))
                .map(FieldOp::Matches),
            CompareOp::Eq | CompareOp::Ne | CompareOp::In | CompareOp::NotIn => {
                let mut lowered = Vec::with_capacity(values.len());
                let mut ok = true;
                for value in values {
                    match self.field_value(&field, subject, value) {
                        Some(found) => lowered.push(found),
                        None => ok = false,
                    }
                }
                let single = || lowered.first().cloned();
                match (ok, op) {
                    (false, _) => None,
                    (true, CompareOp::Eq) => single().map(FieldOp::Eq),
                    (true, CompareOp::Ne) => single().map(FieldOp::Ne),
                    (true, CompareOp::In) => Some(FieldOp::In(lowered)),
                    (true, _) => Some(FieldOp::NotIn(lowered)),
                }
            }
        };
        match op {
            Some(op) => TestKind::Field { field, op },
            None => placeholder(),
        }
    }

    /// A value to compare a field with (`==`, `!=`, `in`, `not in`).
    fn field_value(
        &mut self,
        field: &Field,
        subject: Dotted<'_>,
        value: &ast::Value,
    ) -> Option<Value> {
        match (field, &value.node) {
            (Field::Caller, ValueKind::Text(text)) => match self.normalize_phone(text) {
                Some(e164) => Some(Value::Text(e164)),
                None => {
                    self.not_a_phone_number(value.span, text);
                    None
                }
            },
            (Field::CallerCountry, ValueKind::Text(text)) => {
                let code = text.trim().to_ascii_uppercase();
                if code.parse::<phonenumber::country::Id>().is_ok() {
                    Some(Value::Text(code))
                } else {
                    self.report(
                        Diagnostic::new(
                            Code::UnknownCountry,
                            value.span,
                            format!("{} is not an ISO 3166 country code", self.text(value.span)),
                        )
                        .with_help("use a two-letter code such as \"FR\", \"ES\" or \"US\""),
                    );
                    None
                }
            }
            (Field::LastAgent, ValueKind::Text(email)) => {
                self.check_email(value.span, email);
                Some(Value::Text(email.clone()))
            }
            (Field::Contact(_), ValueKind::Text(text)) => Some(Value::Text(text.clone())),
            (Field::LastAgent | Field::Contact(_), ValueKind::Integer(number)) => {
                if matches!(field, Field::LastAgent) && *number < 0 {
                    self.mismatch(subject, Some(field), value, None);
                    return None;
                }
                Some(Value::Int(*number))
            }
            (Field::Contact(_), ValueKind::Bool(flag)) => Some(Value::Bool(*flag)),
            (_, ValueKind::Name(name)) => self.named_field_value(field, subject, value, name),
            _ => {
                self.mismatch(subject, Some(field), value, None);
                None
            }
        }
    }

    /// A definition's name compared with a field: `caller == paris` (a
    /// number by digits), `last_agent == alice`, `contact.owner == alice`.
    fn named_field_value(
        &mut self,
        field: &Field,
        subject: Dotted<'_>,
        value: &ast::Value,
        name: &str,
    ) -> Option<Value> {
        let found = self.names.lookup(name);
        match (field, found) {
            (Field::Caller, Some(found)) if found.kind == Kind::Number => {
                match self.numbers.get(found.slot)? {
                    NumberAlias::E164(e164) => Some(Value::Text(e164.clone())),
                    NumberAlias::Invalid => None,
                    NumberAlias::Id(_) => {
                        self.report(
                            Diagnostic::new(
                                Code::TypeMismatch,
                                value.span,
                                format!(
                                    "`{name}` is an Aircall number given by its id, which a caller's \
                                     phone number cannot equal"
                                ),
                            )
                            .with_help(format!("define `{name}` by its digits to compare it with `{subject}`"))
                            .with_note(found.span, "defined here"),
                        );
                        None
                    }
                }
            }
            (Field::LastAgent | Field::Contact(_), Some(found)) if found.kind == Kind::Agent => {
                self.agents.get(found.slot).map(|user| match user {
                    UserRef::Id(id) => Value::Int(i64::try_from(*id).unwrap_or(i64::MAX)),
                    UserRef::Email(email) => Value::Text(email.clone()),
                })
            }
            (_, Some(found)) => {
                self.mismatch(subject, Some(field), value, Some(found));
                None
            }
            (_, None) => {
                let ident = ast::Ident::new(name.to_owned(), value.span);
                match field {
                    Field::Caller => self.unknown_name(&ident, "number", &[Kind::Number]),
                    Field::LastAgent => self.unknown_name(&ident, "agent", &[Kind::Agent]),
                    Field::CallerCountry | Field::Contact(_) => {
                        let help = match field {
                            Field::CallerCountry => {
                                format!("quote the country code: \"{}\"", name.to_ascii_uppercase())
                            }
                            _ => format!("to compare with the text, quote it: \"{name}\""),
                        };
                        let close = match field {
                            Field::Contact(_) => self.names.closest(name, &[Kind::Agent]),
                            _ => None,
                        };
                        self.report(
                            Diagnostic::new(
                                Code::UnknownName,
                                value.span,
                                format!("unknown name `{name}`"),
                            )
                            .with_help(close.map_or(help, suggest::did_you_mean)),
                        );
                    }
                }
                None
            }
        }
    }

    /// The text of `starts with`.
    fn prefix_value(
        &mut self,
        field: &Field,
        subject: Dotted<'_>,
        value: &ast::Value,
    ) -> Option<String> {
        let ValueKind::Text(text) = &value.node else {
            self.operand_mismatch("starts with", "quoted text", subject, value);
            return None;
        };
        match field {
            Field::Caller => {
                let valid = |prefix: &str| {
                    prefix
                        .strip_prefix('+')
                        .is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_digit()))
                };
                if valid(text) {
                    return Some(text.clone());
                }
                // A fix when the prefix only has separators or `00` for `+`.
                let compact: String = text
                    .chars()
                    .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
                    .collect();
                let fixed = match compact.strip_prefix("00") {
                    Some(rest) => format!("+{rest}"),
                    None => compact,
                };
                let mut diagnostic = Diagnostic::new(
                    Code::InvalidPhoneNumber,
                    value.span,
                    format!(
                        "`caller` is in E.164 (+ and digits only), so it never starts with {}",
                        self.text(value.span)
                    ),
                );
                diagnostic = if valid(&fixed) {
                    diagnostic.with_help(format!("write \"{fixed}\""))
                } else {
                    diagnostic.with_help("write a prefix such as \"+33\" or \"+1800\"")
                };
                self.report(diagnostic);
                None
            }
            Field::CallerCountry => Some(text.to_ascii_uppercase()),
            Field::Contact(_) | Field::LastAgent => Some(text.clone()),
        }
    }

    /// The regex of `matches`.
    fn pattern_value(&mut self, subject: Dotted<'_>, value: &ast::Value) -> Option<regex::Regex> {
        let ValueKind::Text(pattern) = &value.node else {
            self.operand_mismatch("matches", "a quoted regex", subject, value);
            return None;
        };
        match self.regex(pattern) {
            Ok(regex) => Some(regex),
            Err(message) => {
                self.report(
                    Diagnostic::new(Code::InvalidRegex, value.span, format!("invalid regex: {message}"))
                        .with_help("the pattern uses Rust regex syntax (https://docs.rs/regex); inside quotes, write a backslash as `\\\\`"),
                );
                None
            }
        }
    }

    /// The kind of a value, in a sentence, for type mismatches.
    fn value_kind(&self, value: &ast::Value, found: Option<Resolved>) -> &'static str {
        match (&value.node, found) {
            (ValueKind::Name(_), Some(found)) => found.kind.described(),
            (ValueKind::Name(_), None) => "a name",
            (ValueKind::Text(_), _) => "text",
            (ValueKind::Integer(number), _) if *number < 0 => "a negative integer",
            (ValueKind::Integer(_), _) => "an integer",
            (ValueKind::Bool(_), _) => "a boolean",
        }
    }

    /// "cannot compare `caller.country` (a country code) with `12` (an integer)".
    fn mismatch(
        &mut self,
        subject_text: Dotted<'_>,
        field: Option<&Field>,
        value: &ast::Value,
        found: Option<Resolved>,
    ) {
        let help = match field {
            None => {
                "compare `number` with a `number` definition or quoted digits (\"+33 1 76 36 06 95\")"
            }
            Some(Field::Caller) => {
                "compare `caller` with a quoted phone number (\"+33 1 76 36 06 95\")"
            }
            Some(Field::CallerCountry) => {
                "compare `caller.country` with a quoted ISO 3166 code such as \"FR\""
            }
            Some(Field::LastAgent) => {
                "compare `last_agent` with an agent definition, an e-mail or a user id"
            }
            Some(Field::Contact(_)) => {
                "compare a contact field with text, an integer, `true` or `false`"
            }
        };
        let mut diagnostic = Diagnostic::new(
            Code::TypeMismatch,
            value.span,
            format!(
                "cannot compare `{subject_text}` ({}) with `{}` ({})",
                describe_subject(field),
                self.text(value.span),
                self.value_kind(value, found)
            ),
        )
        .with_help(help);
        if let Some(found) = found {
            diagnostic = diagnostic.with_note(found.span, "defined here");
        }
        self.report(diagnostic);
    }

    /// "`matches` needs a quoted regex, not `12` (an integer)".
    fn operand_mismatch(
        &mut self,
        op: &str,
        wanted: &str,
        subject: Dotted<'_>,
        value: &ast::Value,
    ) {
        let found = match &value.node {
            ValueKind::Name(name) => self.names.lookup(name),
            _ => None,
        };
        self.report(
            Diagnostic::new(
                Code::TypeMismatch,
                value.span,
                format!(
                    "`{op}` needs {wanted}, not `{}` ({})",
                    self.text(value.span),
                    self.value_kind(value, found)
                ),
            )
            .with_help(format!("write `{subject} {op} \"...\"`")),
        );
    }

    /// Reports quoted text that is not a phone number.
    pub(super) fn not_a_phone_number(&mut self, span: Span, text: &str) {
        let help = self.phone_help(text).unwrap_or_else(|| {
            "write the number with its country code, e.g. \"+33 1 76 36 06 95\"".to_owned()
        });
        self.report(
            Diagnostic::new(
                Code::InvalidPhoneNumber,
                span,
                format!("{} is not a phone number", self.text(span)),
            )
            .with_help(help),
        );
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use chrono::NaiveDate;

    use super::*;
    use crate::lang::{compile, CheckOptions, Sources};

    fn lowered(condition: &str) -> Cond {
        let compiled = compile(
            Sources::single("t.rules", format!("when {condition} keep")),
            &CheckOptions::new(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()),
        );
        let rule_set = compiled.rule_set.unwrap();
        rule_set.rules.into_iter().next().unwrap().condition
    }

    /// The operand count of each chain, outermost first, down the first
    /// operand that is not a test.
    fn shape(cond: &Cond) -> Vec<(&'static str, usize)> {
        let mut shape = Vec::new();
        let mut at = Some(cond);
        while let Some(cond) = at {
            at = match cond {
                Cond::And(operands) | Cond::Or(operands) => {
                    let name = if matches!(cond, Cond::And(_)) {
                        "and"
                    } else {
                        "or"
                    };
                    shape.push((name, operands.len()));
                    operands
                        .iter()
                        .find(|operand| !matches!(operand, Cond::Test(_)))
                }
                Cond::Not(inner) => Some(inner),
                Cond::Test(_) => None,
            };
        }
        shape
    }

    #[test]
    fn parenthesised_chains_of_the_same_operator_are_spliced() {
        assert_eq!(
            shape(&lowered(
                "(caller exists or contact.a == 1) or ((contact.b == 2 or always))"
            )),
            [("or", 4)]
        );
        assert_eq!(
            shape(&lowered(
                "caller exists and (contact.a == 1 and contact.b == 2)"
            )),
            [("and", 3)]
        );
        // Another operator, or a `not`, keeps its level.
        assert_eq!(
            shape(&lowered(
                "caller exists and (contact.a == 1 or contact.b == 2)"
            )),
            [("and", 2), ("or", 2)]
        );
        assert_eq!(
            shape(&lowered(
                "caller exists or not (contact.a == 1 or contact.b == 2)"
            )),
            [("or", 2), ("or", 2)]
        );
    }
}
