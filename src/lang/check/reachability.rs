//! Rules that can never decide, and conditions that are always false.
//!
//! Each lowered condition gets a canonical key (a string: `and`/`or`
//! operands flattened, sorted and deduplicated, `outside hours X` written
//! as `not within hours X`, double negations removed) and a truth value
//! when one is certain (`always`, hours open all week, `X or not X`, ...).
//! A rule is unreachable when an earlier rule always matches, or when an
//! earlier rule has the same key. Keys go into a hash map, so the pass is
//! linear in the size of the rules: conditions are never compared pairwise.
//!
//! The analysis is sound but not complete: it never warns about a rule
//! that can decide, and it misses subtler overlaps (`number == a` after
//! `number in [a, b]`).

use std::collections::HashMap;
use std::fmt::Write;

use super::super::diagnostic::Diagnostic;
use super::super::rule_set::{
    CompiledRule, CompiledTest, Cond, FieldOp, NumberMatch, TestKind, UserSource, ZoneChoice,
};
use super::super::schedule::WeeklyHours;
use super::super::span::Span;
use super::Checker;

/// What is certain about a condition whatever the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Truth {
    Always,
    Never,
    Depends,
}

impl Truth {
    fn negate(self) -> Truth {
        match self {
            Truth::Always => Truth::Never,
            Truth::Never => Truth::Always,
            Truth::Depends => Truth::Depends,
        }
    }
}

/// Negates a canonical key in place (`!` in front, or taken away).
fn negate_key(key: &mut String) {
    if key.starts_with('!') {
        key.remove(0);
    } else {
        key.insert(0, '!');
    }
}

/// Computes keys and truths over the lowered conditions of one rule set.
pub(super) struct Analyzer {
    /// Per hours index: its key by content and what is certain about
    /// `within` it, computed once (a named hours is tested by many rules).
    hours: Vec<(String, Truth)>,
}

impl Analyzer {
    pub(super) fn new(hours: &[WeeklyHours]) -> Self {
        let hours = hours
            .iter()
            .map(|found| {
                let mut key = String::new();
                describe_hours(found, &mut key);
                let truth = if found.is_never_open() {
                    Truth::Never
                } else if found.is_always_open() && found.except.is_empty() {
                    Truth::Always
                } else {
                    Truth::Depends
                };
                (key, truth)
            })
            .collect();
        Analyzer { hours }
    }

    /// The canonical key and the truth of a condition.
    pub(super) fn analyze(&self, cond: &Cond) -> (String, Truth) {
        match cond {
            Cond::Test(test) => self.test(test),
            Cond::Not(inner) => {
                let (mut key, truth) = self.analyze(inner);
                negate_key(&mut key);
                (key, truth.negate())
            }
            Cond::And(..) => self.junction(cond, true),
            Cond::Or(..) => self.junction(cond, false),
        }
    }

    /// `and` (`is_and`) or `or` chains, flattened.
    fn junction(&self, cond: &Cond, is_and: bool) -> (String, Truth) {
        let mut operands = Vec::new();
        flatten(cond, is_and, &mut operands);
        let mut keys = Vec::with_capacity(operands.len());
        // The absorbing value: `and` with a false operand is false, `or`
        // with a true operand is true; the neutral one is the other.
        let (absorbing, neutral) = if is_and {
            (Truth::Never, Truth::Always)
        } else {
            (Truth::Always, Truth::Never)
        };
        let mut truth = neutral;
        for operand in operands {
            let (key, operand_truth) = self.analyze(operand);
            if operand_truth == absorbing {
                truth = absorbing;
            } else if operand_truth == Truth::Depends && truth == neutral {
                truth = Truth::Depends;
            }
            keys.push(key);
        }
        keys.sort_unstable();
        keys.dedup();
        // `X and not X` is false, `X or not X` is true.
        if truth == Truth::Depends
            && keys.iter().any(|key| {
                key.strip_prefix('!')
                    .is_some_and(|plain| keys.binary_search_by(|k| k.as_str().cmp(plain)).is_ok())
            })
        {
            truth = absorbing;
        }
        if keys.len() == 1 {
            // `X and X` is `X`.
            if let Some(single) = keys.pop() {
                return (single, truth);
            }
        }
        let mut key = String::with_capacity(keys.iter().map(|k| k.len() + 1).sum::<usize>() + 5);
        key.push_str(if is_and { "and(" } else { "or(" });
        for (index, operand) in keys.iter().enumerate() {
            if index > 0 {
                key.push(',');
            }
            key.push_str(operand);
        }
        key.push(')');
        (key, truth)
    }

    fn test(&self, test: &CompiledTest) -> (String, Truth) {
        let mut key = String::new();
        let truth = match &test.kind {
            TestKind::Always => {
                key.push_str("always");
                Truth::Always
            }
            TestKind::Number { any_of, negated } => {
                let mut values: Vec<String> = any_of
                    .iter()
                    .map(|value| match value {
                        NumberMatch::Id(id) => format!("#{id}"),
                        NumberMatch::E164(e164) => e164.clone(),
                    })
                    .collect();
                values.sort_unstable();
                values.dedup();
                // A negated test is not the negation of the plain one: both
                // are false for a call without a number.
                let op = if *negated { "not in" } else { "in" };
                let _ = write!(key, "number {op}[{}]", values.join(","));
                Truth::Depends
            }
            TestKind::Field { field, op } => {
                // `!=` and `not in` are not negations of `==` and `in`: with
                // the field missing, all of them are false.
                let _ = write!(key, "{field:?}");
                match op {
                    FieldOp::Exists => key.push_str(" exists"),
                    FieldOp::Eq(value) => {
                        let _ = write!(key, " in[{value:?}]");
                    }
                    FieldOp::In(values) => {
                        let _ = write!(key, " in[{}]", sorted_values(values));
                    }
                    FieldOp::Ne(value) => {
                        let _ = write!(key, " not in[{value:?}]");
                    }
                    FieldOp::NotIn(values) => {
                        let _ = write!(key, " not in[{}]", sorted_values(values));
                    }
                    FieldOp::StartsWith(prefix) => {
                        let _ = write!(key, " starts with {prefix:?}");
                    }
                    FieldOp::Matches(regex) => {
                        let _ = write!(key, " matches {:?}", regex.as_str());
                    }
                }
                Truth::Depends
            }
            TestKind::Hours {
                hours,
                zone,
                outside,
            } => {
                let truth = match self.hours.get(*hours) {
                    Some((hours_key, truth)) => {
                        key.push_str(hours_key);
                        *truth
                    }
                    None => Truth::Depends,
                };
                describe_zone(*zone, &mut key);
                if *outside {
                    negate_key(&mut key);
                    truth.negate()
                } else {
                    truth
                }
            }
            TestKind::Holidays { holidays, zone } => {
                let _ = write!(key, "holidays#{holidays}");
                describe_zone(*zone, &mut key);
                Truth::Depends
            }
            TestKind::Availability { who, available } => {
                // `is unavailable` is not `not is available`: presence may
                // be unknown, and then both are false.
                let who = match who {
                    UserSource::Fixed(user) => format!("{user:?}"),
                    UserSource::ContactAgent => "contact.agent".to_owned(),
                    UserSource::LastAgent => "last_agent".to_owned(),
                };
                let _ = write!(
                    key,
                    "{who} is {}",
                    if *available {
                        "available"
                    } else {
                        "unavailable"
                    }
                );
                Truth::Depends
            }
        };
        (key, truth)
    }
}

fn flatten<'c>(cond: &'c Cond, is_and: bool, out: &mut Vec<&'c Cond>) {
    match (cond, is_and) {
        (Cond::And(left, right), true) | (Cond::Or(left, right), false) => {
            flatten(left, is_and, out);
            flatten(right, is_and, out);
        }
        _ => out.push(cond),
    }
}

fn sorted_values(values: &[super::super::value::Value]) -> String {
    let mut keys: Vec<String> = values.iter().map(|value| format!("{value:?}")).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.join(",")
}

/// Hours by content, so two inline `hours(...)` that say the same thing
/// (or an inline copy of a named one) get the same key.
fn describe_hours(hours: &WeeklyHours, key: &mut String) {
    key.push_str("hours");
    for ranges in &hours.open {
        key.push('[');
        for (start, end) in ranges {
            let _ = write!(key, "{start}-{end};");
        }
        key.push(']');
    }
    let _ = write!(key, "except{:?}", hours.except);
}

fn describe_zone(zone: ZoneChoice, key: &mut String) {
    match zone {
        ZoneChoice::Fixed(tz) => {
            let _ = write!(key, "@{}", tz.name());
        }
        ZoneChoice::FromCall => key.push_str("@call"),
    }
}

impl Checker<'_> {
    /// Warns about rules that can never decide and conditions that are
    /// never true. Rules with errors are left out: their lowered form is
    /// incomplete.
    ///
    /// `conditions` holds, for each rule, the span of its condition as
    /// written, or `None` when the rule has an error.
    pub(super) fn warn_unreachable(&mut self, rules: &[CompiledRule], conditions: &[Option<Span>]) {
        let analyzer = Analyzer::new(&self.hours);
        let mut first_always: Option<usize> = None;
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut found: Vec<Finding> = Vec::new();
        for (index, rule) in rules.iter().enumerate() {
            if conditions.get(index).copied().flatten().is_none() {
                continue;
            }
            let (key, truth) = analyzer.analyze(&rule.condition);
            if let Some(earlier) = first_always {
                found.push(Finding::ShadowedByAlways {
                    rule: index,
                    earlier,
                });
            } else if let Some(&earlier) = seen.get(&key) {
                found.push(Finding::SameCondition {
                    rule: index,
                    earlier,
                });
            } else if truth == Truth::Never {
                found.push(Finding::Never { rule: index });
            }
            seen.entry(key).or_insert(index);
            if truth == Truth::Always && first_always.is_none() {
                first_always = Some(index);
            }
        }
        for finding in found {
            let diagnostic = match finding {
                Finding::ShadowedByAlways { rule, earlier } => self.unreachable(
                    rules,
                    conditions,
                    rule,
                    earlier,
                    "always matches first",
                    "this rule matches every call",
                ),
                Finding::SameCondition { rule, earlier } => self.unreachable(
                    rules,
                    conditions,
                    rule,
                    earlier,
                    "has the same condition and comes first",
                    "the same condition",
                ),
                Finding::Never { rule } => {
                    let Some(span) = conditions.get(rule).copied().flatten() else {
                        continue;
                    };
                    Some(
                        Diagnostic::warning(
                            "never-matches",
                            span,
                            "this rule never matches: its condition is false for every call",
                        )
                        .with_help("check the condition's `and` / `not`, or remove the rule"),
                    )
                }
            };
            if let Some(diagnostic) = diagnostic {
                self.report(diagnostic);
            }
        }
    }

    fn unreachable(
        &self,
        rules: &[CompiledRule],
        conditions: &[Option<Span>],
        rule_index: usize,
        earlier_index: usize,
        why: &str,
        label: &str,
    ) -> Option<Diagnostic> {
        let rule = rules.get(rule_index)?;
        let earlier = rules.get(earlier_index)?;
        let rule_condition = conditions.get(rule_index).copied().flatten()?;
        let earlier_condition = conditions.get(earlier_index).copied().flatten()?;
        let place = if earlier.span.file == rule.span.file {
            format!("line {}", earlier.line)
        } else {
            format!(
                "{}, line {}",
                self.file_name(earlier.span.file),
                earlier.line
            )
        };
        let who = match &earlier.name {
            Some(name) => format!("rule {name:?} ({place})"),
            None => format!("the rule at {place}"),
        };
        Some(
            Diagnostic::warning(
                "unreachable-rule",
                rule_condition,
                format!("this rule can never decide: {who} {why}"),
            )
            .with_help("move this rule above it, narrow the earlier condition, or remove this rule")
            .with_note(earlier_condition, label),
        )
    }
}

/// What the pass found about one rule.
#[derive(Debug, Clone, Copy)]
enum Finding {
    ShadowedByAlways { rule: usize, earlier: usize },
    SameCondition { rule: usize, earlier: usize },
    Never { rule: usize },
}

#[cfg(test)]
mod tests {
    use super::super::super::ast::Day;
    use super::super::super::schedule::DayWindow;
    use super::*;

    fn test(kind: TestKind) -> Cond {
        Cond::Test(CompiledTest {
            span: Span::default(),
            kind,
        })
    }

    fn hours(index: usize, outside: bool) -> Cond {
        test(TestKind::Hours {
            hours: index,
            zone: ZoneChoice::FromCall,
            outside,
        })
    }

    fn caller_exists() -> Cond {
        test(TestKind::Field {
            field: super::super::super::rule_set::Field::Caller,
            op: FieldOp::Exists,
        })
    }

    fn sample_hours() -> Vec<WeeklyHours> {
        let window = DayWindow {
            day: Day::Mon,
            start: 9 * 60,
            end: 17 * 60,
        };
        vec![
            // Never open: only reachable from the AST through errors, but
            // the analysis must still be right about it.
            WeeklyHours::new(None, Vec::new(), Vec::new()),
            WeeklyHours::new(None, vec![window], Vec::new()),
            WeeklyHours::new(None, vec![window], Vec::new()),
        ]
    }

    #[test]
    fn hours_that_are_never_open() {
        let all = sample_hours();
        let analyzer = Analyzer::new(&all);
        assert_eq!(analyzer.analyze(&hours(0, true)).1, Truth::Always);
        assert_eq!(analyzer.analyze(&hours(0, false)).1, Truth::Never);
        assert_eq!(analyzer.analyze(&hours(1, false)).1, Truth::Depends);
    }

    #[test]
    fn hours_are_keyed_by_content() {
        let all = sample_hours();
        let analyzer = Analyzer::new(&all);
        assert_eq!(
            analyzer.analyze(&hours(1, false)).0,
            analyzer.analyze(&hours(2, false)).0
        );
        // `outside` is `not within`.
        assert_eq!(
            analyzer.analyze(&hours(1, true)).0,
            analyzer.analyze(&Cond::Not(Box::new(hours(2, false)))).0
        );
    }

    #[test]
    fn junctions_are_flattened_sorted_and_deduplicated() {
        let all = sample_hours();
        let analyzer = Analyzer::new(&all);
        let a = || hours(1, false);
        let b = caller_exists;
        let left = Cond::And(
            Box::new(Cond::And(Box::new(a()), Box::new(b()))),
            Box::new(a()),
        );
        let right = Cond::And(Box::new(b()), Box::new(a()));
        assert_eq!(analyzer.analyze(&left), analyzer.analyze(&right));
        // `X and X` is `X`; double negation cancels out.
        let twice = Cond::And(Box::new(b()), Box::new(b()));
        let negated_twice = Cond::Not(Box::new(Cond::Not(Box::new(b()))));
        assert_eq!(analyzer.analyze(&twice), analyzer.analyze(&b()));
        assert_eq!(analyzer.analyze(&negated_twice), analyzer.analyze(&b()));
    }

    #[test]
    fn complementary_operands() {
        let all = sample_hours();
        let analyzer = Analyzer::new(&all);
        let not_b = || Cond::Not(Box::new(caller_exists()));
        let either = Cond::Or(Box::new(caller_exists()), Box::new(not_b()));
        let both = Cond::And(Box::new(caller_exists()), Box::new(not_b()));
        assert_eq!(analyzer.analyze(&either).1, Truth::Always);
        assert_eq!(analyzer.analyze(&both).1, Truth::Never);
        // An `or` with an always-true operand is always true, and an `and`
        // with one is decided by the rest.
        let always = || test(TestKind::Always);
        let or_always = Cond::Or(Box::new(caller_exists()), Box::new(always()));
        let and_always = Cond::And(Box::new(caller_exists()), Box::new(always()));
        assert_eq!(analyzer.analyze(&or_always).1, Truth::Always);
        assert_eq!(analyzer.analyze(&and_always).1, Truth::Depends);
    }
}
