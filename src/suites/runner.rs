//! Running prepared cases: decide each call with the rules, compare with
//! what the case expects, explain the failures, and count which rules
//! decided something.
//!
//! Calls are decided by [`RuleSet::evaluate`]; a failing case is decided
//! again by [`RuleSet::explain`] (the same code path, with the trace on) so
//! that the report shows why. Nothing here evaluates a condition itself.

use std::collections::BTreeSet;

use crate::lang::outcome::{Decision, RuleTrace, TeamTarget, UserTarget};
use crate::lang::{Action, Context, Outcome, RuleSet, Target};

use super::{Case, ExpectedAction, ExpectedRule, ExpectedTarget};

/// How one case went.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub name: String,
    /// What the rules decided.
    pub outcome: Outcome,
    /// Each way the outcome differs from the expectation; empty when the
    /// case passed.
    pub failures: Vec<String>,
    /// For a failing case: the traces of the deciding and expected rules.
    pub explained: Option<Explained>,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Why a failing case went the way it did.
#[derive(Debug, Clone)]
pub struct Explained {
    /// The trace of the rule that decided, with every condition it tested.
    pub deciding: Option<RuleTrace>,
    /// The rules the case expected to decide, when another did (or none).
    pub expected: Vec<ExpectedRuleTrace>,
}

/// The trace of a rule the case expected to decide.
#[derive(Debug, Clone)]
pub struct ExpectedRuleTrace {
    pub trace: RuleTrace,
    /// Whether the evaluation got to it. When an earlier rule decided, the
    /// trace is of the rule evaluated on its own against the same call.
    pub reached: bool,
}

/// The results of one suite.
#[derive(Debug, Clone)]
pub struct SuiteRun {
    pub results: Vec<CaseResult>,
    /// Indexes of the rules that decided at least one case.
    pub decided: BTreeSet<usize>,
}

impl SuiteRun {
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.passed()).count()
    }

    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }
}

/// Runs every case against `rule_set`.
pub fn run(rule_set: &RuleSet, cases: &[Case]) -> SuiteRun {
    let mut decided = BTreeSet::new();
    let results = cases
        .iter()
        .map(|case| {
            let context = Context {
                contact: case.contact.as_ref(),
                last_agent: case.last_agent.as_ref(),
                availability: &case.availability,
            };
            let outcome = rule_set.evaluate(&case.call, &context);
            if let Some(rule) = &outcome.decision.rule {
                decided.insert(rule.index);
            }
            let failures = compare(case, &outcome.decision);
            if failures.is_empty() {
                return CaseResult {
                    name: case.name.clone(),
                    outcome,
                    failures,
                    explained: None,
                };
            }
            // The same evaluation with its trace, for the report.
            let outcome = rule_set.explain(&case.call, &context);
            let explained = explain(rule_set, case, &context, &outcome);
            CaseResult {
                name: case.name.clone(),
                outcome,
                failures,
                explained: Some(explained),
            }
        })
        .collect();
    SuiteRun { results, decided }
}

fn explain(rule_set: &RuleSet, case: &Case, context: &Context<'_>, outcome: &Outcome) -> Explained {
    let deciding_index = outcome.decision.rule.as_ref().map(|rule| rule.index);
    let deciding = outcome
        .trace
        .iter()
        .find(|trace| trace.matched && Some(trace.rule.index) == deciding_index)
        .cloned();
    let wanted: Vec<usize> = match &case.expect.rule {
        Some(ExpectedRule::Rule { indexes, .. }) => indexes.clone(),
        _ => Vec::new(),
    };
    let expected = wanted
        .into_iter()
        .filter(|&index| Some(index) != deciding_index)
        .filter_map(|index| {
            if let Some(trace) = outcome.trace.iter().find(|t| t.rule.index == index) {
                return Some(ExpectedRuleTrace {
                    trace: trace.clone(),
                    reached: true,
                });
            }
            // Decided before it was reached: evaluate it alone, so the
            // report can say whether it would have matched.
            let alone = rule_set.with_only_rule(index)?;
            let mut trace = alone
                .explain(&case.call, context)
                .trace
                .into_iter()
                .next()?;
            trace.rule.index = index;
            Some(ExpectedRuleTrace {
                trace,
                reached: false,
            })
        })
        .collect();
    Explained { deciding, expected }
}

impl RuleSet {
    /// This rule set with only the rule at `index` (same definitions), so
    /// that the evaluator can explain that rule on its own.
    fn with_only_rule(&self, index: usize) -> Option<RuleSet> {
        let rule = self.rules.get(index)?.clone();
        Some(RuleSet {
            sources: self.sources.clone(),
            revision: self.revision.clone(),
            symbols: self.symbols.clone(),
            rules: vec![rule],
            hours: self.hours.clone(),
            holidays: self.holidays.clone(),
            contact_fields: self.contact_fields.clone(),
            uses_last_agent: self.uses_last_agent,
            // One rule: nothing to index.
            index: None,
        })
    }
}

/// Every way `decision` differs from what `case` expects.
pub fn compare(case: &Case, decision: &Decision) -> Vec<String> {
    let mut failures = Vec::new();
    let expect = &case.expect;
    let decided_by = decision.rule.as_ref().map(|rule| rule.index);
    let actual_rule = || match &decision.rule {
        Some(rule) => super::rule_label(rule.name.as_deref(), rule.line),
        None if decision.ignored.is_some() => "no rule (the event was ignored)".to_owned(),
        None => "no rule".to_owned(),
    };

    match &expect.rule {
        Some(ExpectedRule::NoRule) if decided_by.is_some() => {
            failures.push(format!(
                "{} decided; expected no rule to match",
                actual_rule()
            ));
        }
        Some(ExpectedRule::Rule { label, indexes })
            if !decided_by.is_some_and(|index| indexes.contains(&index)) =>
        {
            failures.push(format!("{} decided; expected {label}", actual_rule()));
        }
        _ => {}
    }

    let main = decision
        .actions
        .iter()
        .find(|action| matches!(action, Action::Transfer { .. } | Action::Keep { .. }));
    let actual_action = || describe_main_action(decision);
    match &expect.action {
        Some(ExpectedAction::Ignored) if decision.ignored.is_none() => {
            failures.push(format!(
                "the call was decided ({}); expected the event to be ignored",
                actual_action()
            ));
        }
        Some(ExpectedAction::Keep) if !matches!(main, Some(Action::Keep { .. })) => {
            failures.push(format!("{}; expected keep", actual_action()));
        }
        Some(ExpectedAction::Transfer { to, fallbacks }) => match main {
            Some(Action::Transfer {
                to: actual_to,
                fallbacks: actual_fallbacks,
                ..
            }) => {
                if let Some(to) = to {
                    if !to.matches(actual_to) {
                        failures.push(format!(
                            "transferred to {}; expected {}",
                            target_label(actual_to),
                            to
                        ));
                    }
                }
                if let Some(fallbacks) = fallbacks {
                    let same = fallbacks.len() == actual_fallbacks.len()
                        && fallbacks
                            .iter()
                            .zip(actual_fallbacks)
                            .all(|(expected, actual)| expected.matches(actual));
                    if !same {
                        failures.push(format!(
                            "fallbacks were {}; expected {}",
                            list(actual_fallbacks.iter().map(target_label)),
                            list(fallbacks.iter().map(ToString::to_string))
                        ));
                    }
                }
            }
            _ => failures.push(format!(
                "{}; expected a transfer{}",
                actual_action(),
                to.as_ref()
                    .map(|to| format!(" to {to}"))
                    .unwrap_or_default()
            )),
        },
        _ => {}
    }

    if let Some(tags) = &expect.tags {
        let actual: Vec<&str> = decision
            .actions
            .iter()
            .filter_map(|action| match action {
                Action::Tag { tag } => Some(tag.as_str()),
                _ => None,
            })
            .collect();
        if actual != tags.iter().map(String::as_str).collect::<Vec<_>>() {
            failures.push(format!(
                "tags were {}; expected {}",
                list(actual.iter().map(|t| format!("{t:?}"))),
                list(tags.iter().map(|t| format!("{t:?}")))
            ));
        }
    }
    if let Some(comments) = &expect.comments {
        let actual: Vec<&str> = decision
            .actions
            .iter()
            .filter_map(|action| match action {
                Action::Comment { text } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        if actual != comments.iter().map(String::as_str).collect::<Vec<_>>() {
            failures.push(format!(
                "comments were {}; expected {}",
                list(actual.iter().map(|t| format!("{t:?}"))),
                list(comments.iter().map(|t| format!("{t:?}")))
            ));
        }
    }

    if let Some(index) = decided_by {
        if case
            .not_rules
            .iter()
            .any(|(_, indexes)| indexes.contains(&index))
        {
            failures.push(format!(
                "{} decided, but the case says it must not",
                actual_rule()
            ));
        }
    }
    failures
}

/// What happened to the call, in a few words: `transfer to agent x@y.z`,
/// `keep (no rule matched)`, `ignored (...)`.
pub fn describe_main_action(decision: &Decision) -> String {
    if let Some(reason) = decision.ignored {
        return format!("ignored ({reason})");
    }
    let main = decision
        .actions
        .iter()
        .find(|action| matches!(action, Action::Transfer { .. } | Action::Keep { .. }));
    match main {
        Some(Action::Transfer { to, fallbacks, .. }) if fallbacks.is_empty() => {
            format!("transfer to {}", target_label(to))
        }
        Some(Action::Transfer { to, fallbacks, .. }) => format!(
            "transfer to {} (fallbacks: {})",
            target_label(to),
            fallbacks
                .iter()
                .map(target_label)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(Action::Keep {
            reason: Some(reason),
        }) => format!("keep ({reason})"),
        Some(_) => "keep".to_owned(),
        None => "nothing to do".to_owned(),
    }
}

/// A target as the report shows it: `agent alice@example.com`, `user 12`,
/// `team "Sales" ringing random`, `+18001234567`.
pub fn target_label(target: &Target) -> String {
    match target {
        Target::User(UserTarget::Email(email)) => format!("agent {email}"),
        Target::User(UserTarget::Id(id)) => format!("user {id}"),
        Target::Team { team, ringing } => {
            let team = match team {
                TeamTarget::Id(id) => format!("team {id}"),
                TeamTarget::Name(name) => format!("team {name:?}"),
            };
            match ringing {
                Some(ringing) => format!("{team} ringing {}", ringing.as_str()),
                None => team,
            }
        }
        Target::Number(number) => number.clone(),
    }
}

impl ExpectedTarget {
    /// Whether the actual target is the expected one. E-mails compare
    /// without case (as Aircall's directory does); a ringing strategy is
    /// compared only when the case gives one.
    pub fn matches(&self, actual: &Target) -> bool {
        match (&self.0, actual) {
            (Target::User(UserTarget::Email(a)), Target::User(UserTarget::Email(b))) => {
                a.eq_ignore_ascii_case(b)
            }
            (Target::User(a), Target::User(b)) => a == b,
            (
                Target::Team { team, ringing },
                Target::Team {
                    team: actual_team,
                    ringing: actual_ringing,
                },
            ) => team == actual_team && (ringing.is_none() || ringing == actual_ringing),
            (Target::Number(a), Target::Number(b)) => a == b,
            _ => false,
        }
    }
}

impl std::fmt::Display for ExpectedTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&target_label(&self.0))
    }
}

fn list(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}
