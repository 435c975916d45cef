//! Rules that can never decide, and conditions that are always false.
//!
//! Each lowered condition gets a canonical key and a truth value when one
//! is certain (`always`, hours open all week, `X or not X`, ...). The key is
//! a 64-bit structural hash: `and`/`or` operands are flattened, sorted and
//! deduplicated, `outside hours X` is `not within hours X`, hours compare by
//! content, and negation flips a fixed mask so double negations cancel. A
//! rule is unreachable when an earlier rule always matches, or when an
//! earlier rule has the same key. Keys go into a hash map, so the pass is
//! linear in the size of the rules (conditions are never compared pairwise)
//! and allocates little: a 10,000-rule file is analysed in a few
//! milliseconds.
//!
//! The analysis is sound but not complete: it never warns about a rule
//! that can decide (short of a 64-bit hash collision, which could only add
//! a spurious warning), and it misses subtler overlaps (`number == a` after
//! `number in [a, b]`).

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use super::Checker;
use crate::lang::code::Code;
use crate::lang::diagnostic::Diagnostic;
use crate::lang::rule_set::{
    CompiledRule, CompiledTest, Cond, Field, FieldOp, NumberMatch, TestKind, UserSource, ZoneChoice,
};
use crate::lang::schedule::WeeklyHours;
use crate::lang::span::Span;
use crate::lang::value::Value;

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

/// The canonical key of a condition (see the module documentation).
pub(super) type Key = u64;

/// Negation flips these bits: an involution, so `not not X` is `X`.
const NOT_MASK: Key = 0x9e37_79b9_7f4a_7c15;

/// A hasher with fixed keys, so keys are the same in every run.
fn hasher(tag: &str) -> DefaultHasher {
    let mut hasher = DefaultHasher::new();
    tag.hash(&mut hasher);
    hasher
}

/// Computes keys and truths over the lowered conditions of one rule set.
pub(super) struct Analyzer {
    /// Per hours index: its key by content and what is certain about
    /// `within` it, computed once (a named hours is tested by many rules).
    hours: Vec<(Key, Truth)>,
}

impl Analyzer {
    pub(super) fn new(hours: &[WeeklyHours]) -> Self {
        let hours = hours
            .iter()
            .map(|found| {
                // By content, so two inline `hours(...)` that say the same
                // thing (or an inline copy of a named one) get one key.
                let mut state = hasher("hours");
                found.open.hash(&mut state);
                found.except.hash(&mut state);
                let truth = if found.is_never_open() {
                    Truth::Never
                } else if found.is_always_open() && found.except.is_empty() {
                    Truth::Always
                } else {
                    Truth::Depends
                };
                (state.finish(), truth)
            })
            .collect();
        Analyzer { hours }
    }

    /// The canonical key and the truth of a condition.
    pub(super) fn analyze(&self, cond: &Cond) -> (Key, Truth) {
        match cond {
            Cond::Test(test) => self.test(test),
            Cond::Not(inner) => {
                let (key, truth) = self.analyze(inner);
                (key ^ NOT_MASK, truth.negate())
            }
            Cond::And(operands) => self.junction(operands, true),
            Cond::Or(operands) => self.junction(operands, false),
        }
    }

    /// `and` (`is_and`) or `or` chains, flattened.
    fn junction(&self, chain: &[Cond], is_and: bool) -> (Key, Truth) {
        let mut operands = Vec::with_capacity(chain.len());
        flatten(chain, is_and, &mut operands);
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
            && keys
                .iter()
                .any(|key| keys.binary_search(&(key ^ NOT_MASK)).is_ok())
        {
            truth = absorbing;
        }
        if let [single] = keys.as_slice() {
            // `X and X` is `X`.
            return (*single, truth);
        }
        let mut state = hasher(if is_and { "and" } else { "or" });
        keys.hash(&mut state);
        (state.finish(), truth)
    }

    fn test(&self, test: &CompiledTest) -> (Key, Truth) {
        match &test.kind {
            TestKind::Always => (hasher("always").finish(), Truth::Always),
            TestKind::Number { any_of, negated } => {
                // A negated test is not the negation of the plain one: both
                // are false for a call without a number.
                let mut state = hasher(if *negated {
                    "number not in"
                } else {
                    "number in"
                });
                let mut values: Vec<Key> = any_of
                    .iter()
                    .map(|value| {
                        let mut state = hasher("number");
                        match value {
                            NumberMatch::Id(id) => (0_u8, id).hash(&mut state),
                            NumberMatch::E164(e164) => (1_u8, e164).hash(&mut state),
                        }
                        state.finish()
                    })
                    .collect();
                values.sort_unstable();
                values.dedup();
                values.hash(&mut state);
                (state.finish(), Truth::Depends)
            }
            TestKind::Field { field, op } => {
                // `!=` and `not in` are not negations of `==` and `in`: with
                // the field missing, all of them are false. `== x` is
                // `in [x]`.
                let mut state = hasher("field");
                hash_field(field, &mut state);
                match op {
                    FieldOp::Exists => "exists".hash(&mut state),
                    FieldOp::Eq(value) => {
                        "in".hash(&mut state);
                        hash_values(std::slice::from_ref(value), &mut state);
                    }
                    FieldOp::In(values) => {
                        "in".hash(&mut state);
                        hash_values(values, &mut state);
                    }
                    FieldOp::Ne(value) => {
                        "not in".hash(&mut state);
                        hash_values(std::slice::from_ref(value), &mut state);
                    }
                    FieldOp::NotIn(values) => {
                        "not in".hash(&mut state);
                        hash_values(values, &mut state);
                    }
                    FieldOp::StartsWith(prefix) => ("starts with", prefix).hash(&mut state),
                    FieldOp::Matches(regex) => ("matches", regex.as_str()).hash(&mut state),
                }
                (state.finish(), Truth::Depends)
            }
            TestKind::Hours {
                hours,
                zone,
                outside,
            } => {
                let (hours_key, truth) = self
                    .hours
                    .get(*hours)
                    .copied()
                    .unwrap_or((*hours as Key, Truth::Depends));
                let mut state = hasher("within");
                hours_key.hash(&mut state);
                hash_zone(*zone, &mut state);
                let key = state.finish();
                if *outside {
                    (key ^ NOT_MASK, truth.negate())
                } else {
                    (key, truth)
                }
            }
            TestKind::Holidays { holidays, zone } => {
                let mut state = hasher("during");
                holidays.hash(&mut state);
                hash_zone(*zone, &mut state);
                (state.finish(), Truth::Depends)
            }
            TestKind::Availability { who, available } => {
                // `is unavailable` is not `not is available`: presence may
                // be unknown, and then both are false.
                let mut state = hasher(if *available {
                    "available"
                } else {
                    "unavailable"
                });
                match who {
                    UserSource::Fixed(user) => user.hash(&mut state),
                    UserSource::ContactAgent => "contact.agent".hash(&mut state),
                    UserSource::LastAgent => "last_agent".hash(&mut state),
                }
                (state.finish(), Truth::Depends)
            }
        }
    }
}

/// The operands of a chain, with those of nested chains of the same
/// operator in their place. The checker already splices them when it
/// lowers, so this recurses only for hand-built conditions.
fn flatten<'c>(chain: &'c [Cond], is_and: bool, out: &mut Vec<&'c Cond>) {
    for operand in chain {
        match (operand, is_and) {
            (Cond::And(inner), true) | (Cond::Or(inner), false) => flatten(inner, is_and, out),
            _ => out.push(operand),
        }
    }
}

fn hash_field(field: &Field, state: &mut DefaultHasher) {
    match field {
        Field::Caller => "caller".hash(state),
        Field::CallerCountry => "caller.country".hash(state),
        Field::Contact(name) => ("contact", name).hash(state),
        Field::LastAgent => "last_agent".hash(state),
    }
}

/// A set of values, in any order and with repeats ignored.
fn hash_values(values: &[Value], state: &mut DefaultHasher) {
    let mut keys: Vec<Key> = values
        .iter()
        .map(|value| {
            let mut one = hasher("value");
            match value {
                Value::Null => 0_u8.hash(&mut one),
                Value::Bool(flag) => (1_u8, flag).hash(&mut one),
                Value::Int(number) => (2_u8, number).hash(&mut one),
                Value::Float(number) => (3_u8, number.to_bits()).hash(&mut one),
                Value::Text(text) => (4_u8, text).hash(&mut one),
            }
            one.finish()
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys.hash(state);
}

fn hash_zone(zone: ZoneChoice, state: &mut DefaultHasher) {
    match zone {
        ZoneChoice::Fixed(tz) => tz.name().hash(state),
        ZoneChoice::FromCall => "call".hash(state),
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
        let mut seen: HashMap<Key, usize> = HashMap::new();
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
                        Diagnostic::new(
                            Code::NeverMatches,
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
            Diagnostic::new(
                Code::UnreachableRule,
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
    use super::*;
    use crate::lang::ast::Day;
    use crate::lang::schedule::DayWindow;

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
            field: crate::lang::rule_set::Field::Caller,
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
        let left = Cond::And(Box::new([Cond::And(Box::new([a(), b()])), a()]));
        let right = Cond::And(Box::new([b(), a()]));
        assert_eq!(analyzer.analyze(&left), analyzer.analyze(&right));
        // `X and X` is `X`; double negation cancels out.
        let twice = Cond::And(Box::new([b(), b()]));
        let negated_twice = Cond::Not(Box::new(Cond::Not(Box::new(b()))));
        assert_eq!(analyzer.analyze(&twice), analyzer.analyze(&b()));
        assert_eq!(analyzer.analyze(&negated_twice), analyzer.analyze(&b()));
    }

    #[test]
    fn complementary_operands() {
        let all = sample_hours();
        let analyzer = Analyzer::new(&all);
        let not_b = || Cond::Not(Box::new(caller_exists()));
        let either = Cond::Or(Box::new([caller_exists(), not_b()]));
        let both = Cond::And(Box::new([caller_exists(), not_b()]));
        assert_eq!(analyzer.analyze(&either).1, Truth::Always);
        assert_eq!(analyzer.analyze(&both).1, Truth::Never);
        // An `or` with an always-true operand is always true, and an `and`
        // with one is decided by the rest.
        let always = || test(TestKind::Always);
        let or_always = Cond::Or(Box::new([caller_exists(), always()]));
        let and_always = Cond::And(Box::new([caller_exists(), always()]));
        assert_eq!(analyzer.analyze(&or_always).1, Truth::Always);
        assert_eq!(analyzer.analyze(&and_always).1, Truth::Depends);
    }
}
