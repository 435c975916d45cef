//! Which rules a call can possibly match, found without trying them all.
//!
//! Rules are tried top to bottom, so a rule set of 10,000 rules would cost
//! 10,000 condition evaluations for a call that matches none of them. But
//! most rules in a large set are routing tables: `number == line42 and
//! ...`, `caller == "+34..." and ...`, `contact.segment in [...] and ...`.
//! Each such condition has a *guard*: a set of facts (this number id, this
//! caller, this contact field value, this caller prefix) one of which the
//! call must have for the condition to hold. The index maps each fact to
//! the rules it guards; a call's candidates are the rules guarded by a fact
//! it has, plus the rules without a guard, in rule order. Every other rule
//! is certain to fail, so trying only the candidates decides exactly as
//! trying every rule does (`explain` still tries every rule, and a test
//! checks that both agree).
//!
//! A guard must be sound, never clever: when in doubt (`not`, `!=`,
//! availability, time tests, `last_agent`, whose e-mails compare without
//! case), a condition has no guard and its rule is always a candidate.

use std::collections::HashMap;

use super::call::{Call, Context};
use super::eval::{self, Seen};
use super::rule_set::{CompiledRule, Cond, Field, FieldOp, NumberMatch, TestKind};
use super::value::Value;

/// Below this many rules, trying them all is cheaper than the lookups.
const SMALLEST_INDEXED: usize = 32;

/// Rule positions, ascending.
type Rules = Vec<u32>;

#[derive(Debug, Clone, Default)]
pub(crate) struct RuleIndex {
    /// Rules whose condition has no guard: always candidates.
    unguarded: Rules,
    number_ids: HashMap<u64, Rules>,
    number_e164: HashMap<Box<str>, Rules>,
    fields: Vec<FieldIndex>,
}

/// The guarded rules of one field (`caller`, `caller.country`,
/// `contact.NAME`).
#[derive(Debug, Clone)]
struct FieldIndex {
    field: Field,
    texts: HashMap<Box<str>, Rules>,
    ints: HashMap<i64, Rules>,
    /// `[false, true]`.
    bools: [Rules; 2],
    /// `starts with` prefixes by length, ascending.
    prefixes: Vec<(usize, HashMap<Box<str>, Rules>)>,
}

/// A fact a call must have for a condition to hold.
#[derive(Debug, Clone, PartialEq)]
enum Fact<'r> {
    NumberId(u64),
    NumberE164(&'r str),
    /// The field's value equals this (text, integer or boolean).
    Equals(&'r Field, Literal<'r>),
    /// The field's text starts with this.
    Prefix(&'r Field, &'r str),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Literal<'r> {
    Text(&'r str),
    Int(i64),
    Bool(bool),
}

/// Integers from this magnitude on are not all exact as `f64`, and a
/// contact field read as REAL compares with integer literals through
/// `f64`: such literals are not indexed.
const EXACT_IN_F64: i64 = 1 << 53;

impl RuleIndex {
    /// The index of `rules`, or `None` when the set is small enough to try
    /// every rule.
    pub(crate) fn build(rules: &[CompiledRule]) -> Option<RuleIndex> {
        if rules.len() < SMALLEST_INDEXED {
            return None;
        }
        let mut index = RuleIndex::default();
        for (position, rule) in rules.iter().enumerate() {
            let position = u32::try_from(position).ok()?;
            match guard(&rule.condition) {
                None => index.unguarded.push(position),
                Some(facts) => {
                    for fact in facts {
                        index.insert(fact, position);
                    }
                }
            }
        }
        index.dedup();
        Some(index)
    }

    fn insert(&mut self, fact: Fact<'_>, position: u32) {
        match fact {
            Fact::NumberId(id) => self.number_ids.entry(id).or_default().push(position),
            Fact::NumberE164(e164) => self
                .number_e164
                .entry(e164.into())
                .or_default()
                .push(position),
            Fact::Equals(field, literal) => {
                let of_field = self.field_mut(field);
                match literal {
                    Literal::Text(text) => of_field.texts.entry(text.into()).or_default(),
                    Literal::Int(int) => of_field.ints.entry(int).or_default(),
                    Literal::Bool(flag) => &mut of_field.bools[usize::from(flag)],
                }
                .push(position);
            }
            Fact::Prefix(field, prefix) => {
                let prefixes = &mut self.field_mut(field).prefixes;
                let at = prefixes.partition_point(|(len, _)| *len < prefix.len());
                if prefixes.get(at).is_none_or(|(len, _)| *len != prefix.len()) {
                    prefixes.insert(at, (prefix.len(), HashMap::new()));
                }
                if let Some((_, by_prefix)) = prefixes.get_mut(at) {
                    by_prefix.entry(prefix.into()).or_default().push(position);
                }
            }
        }
    }

    fn field_mut(&mut self, field: &Field) -> &mut FieldIndex {
        let at = match self.fields.iter().position(|known| known.field == *field) {
            Some(at) => at,
            None => {
                self.fields.push(FieldIndex {
                    field: field.clone(),
                    texts: HashMap::new(),
                    ints: HashMap::new(),
                    bools: [Vec::new(), Vec::new()],
                    prefixes: Vec::new(),
                });
                self.fields.len() - 1
            }
        };
        &mut self.fields[at]
    }

    /// A rule whose guard names the same fact twice (`caller in ["+1",
    /// "+1"]`) was pushed twice in a row onto that fact's list.
    fn dedup(&mut self) {
        let lists = self
            .number_ids
            .values_mut()
            .chain(self.number_e164.values_mut())
            .chain(self.fields.iter_mut().flat_map(|field| {
                field
                    .texts
                    .values_mut()
                    .chain(field.ints.values_mut())
                    .chain(field.bools.iter_mut())
                    .chain(
                        field
                            .prefixes
                            .iter_mut()
                            .flat_map(|(_, map)| map.values_mut()),
                    )
            }));
        for list in lists {
            list.dedup();
        }
    }

    /// The positions of the rules `call` can match, ascending, in `out`
    /// (cleared first).
    pub(crate) fn candidates(&self, call: &Call, ctx: &Context<'_>, out: &mut Vec<u32>) {
        out.clear();
        let mut lists: usize = 0;
        let mut add = |list: &Rules| {
            if !list.is_empty() {
                out.extend_from_slice(list);
                lists += 1;
            }
        };
        add(&self.unguarded);
        if let Some(list) = call.number_id.and_then(|id| self.number_ids.get(&id)) {
            add(list);
        }
        if let Some(list) = call
            .number_e164
            .as_deref()
            .and_then(|e164| self.number_e164.get(e164))
        {
            add(list);
        }
        for field in &self.fields {
            let Some(key) = field_key(&field.field, call, ctx) else {
                continue;
            };
            match key {
                Key::Text(text) => {
                    if let Some(list) = field.texts.get(text) {
                        add(list);
                    }
                    for (len, by_prefix) in &field.prefixes {
                        if let Some(list) = text.get(..*len).and_then(|head| by_prefix.get(head)) {
                            add(list);
                        }
                    }
                }
                Key::Int(int) => {
                    if let Some(list) = field.ints.get(&int) {
                        add(list);
                    }
                }
                Key::Bool(flag) => add(&field.bools[usize::from(flag)]),
                Key::Other => {}
            }
        }
        // Each list is ascending; several need merging into rule order.
        if lists > 1 {
            out.sort_unstable();
            out.dedup();
        }
    }
}

/// A field's value as the index compares it.
enum Key<'a> {
    Text(&'a str),
    Int(i64),
    Bool(bool),
    /// A value no indexed literal can equal (null, a fractional number,
    /// the last agent, whose tests are never guarded).
    Other,
}

/// The key of `field` in the call, read as the evaluator reads it.
fn field_key<'a>(field: &Field, call: &'a Call, ctx: &Context<'a>) -> Option<Key<'a>> {
    Some(match eval::field_value(field, call, ctx)? {
        Seen::Text(text) => Key::Text(text),
        Seen::Value(Value::Text(text)) => Key::Text(text),
        Seen::Value(&Value::Int(int)) => Key::Int(int),
        Seen::Value(&Value::Bool(flag)) => Key::Bool(flag),
        Seen::Value(&Value::Float(float)) => float_as_int(float).map_or(Key::Other, Key::Int),
        Seen::Value(Value::Null) | Seen::Agent(_) => Key::Other,
    })
}

/// The integer an `f64` holds exactly, within the indexed range.
#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    reason = "checked: integral and below 2^53 in magnitude, where f64 is exact"
)]
fn float_as_int(float: f64) -> Option<i64> {
    let exact = float.fract() == 0.0 && float.abs() < EXACT_IN_F64 as f64;
    exact.then_some(float as i64)
}

/// The facts one of which a call must have for `condition` to hold, or
/// `None` when no such set is known.
fn guard(condition: &Cond) -> Option<Vec<Fact<'_>>> {
    match condition {
        // Any operand's guard is enough; the one with fewest facts makes
        // the fewest candidates.
        Cond::And(operands) => operands.iter().filter_map(guard).reduce(|fewest, facts| {
            if facts.len() < fewest.len() {
                facts
            } else {
                fewest
            }
        }),
        // Every operand needs a guard: a call may match any of them.
        Cond::Or(operands) => {
            let mut facts = Vec::new();
            for operand in operands {
                facts.extend(guard(operand)?);
            }
            Some(facts)
        }
        Cond::Not(_) => None,
        Cond::Test(test) => match &test.kind {
            TestKind::Number {
                any_of,
                negated: false,
            } if !any_of.is_empty() => Some(
                any_of
                    .iter()
                    .map(|number| match number {
                        NumberMatch::Id(id) => Fact::NumberId(*id),
                        NumberMatch::E164(e164) => Fact::NumberE164(e164),
                    })
                    .collect(),
            ),
            TestKind::Field { field, op } if *field != Field::LastAgent => match op {
                FieldOp::Eq(literal) => Some(vec![Fact::Equals(field, indexed(literal)?)]),
                FieldOp::In(literals) => literals
                    .iter()
                    .map(|literal| indexed(literal).map(|literal| Fact::Equals(field, literal)))
                    .collect(),
                FieldOp::StartsWith(prefix) => Some(vec![Fact::Prefix(field, prefix)]),
                _ => None,
            },
            _ => None,
        },
    }
}

/// A literal as the index stores it: text, booleans, and integers (or
/// integral numbers) exact in `f64`.
fn indexed(literal: &Value) -> Option<Literal<'_>> {
    match *literal {
        Value::Text(ref text) => Some(Literal::Text(text)),
        Value::Bool(flag) => Some(Literal::Bool(flag)),
        Value::Int(int) if int.abs() < EXACT_IN_F64 => Some(Literal::Int(int)),
        Value::Float(float) => float_as_int(float).map(Literal::Int),
        Value::Int(_) | Value::Null => None,
    }
}
