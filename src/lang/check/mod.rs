//! The checker: turns parsed files into a [`RuleSet`], reporting every
//! error and warning of the whole set in one pass.
//!
//! It resolves names across files, validates times, dates, time zones,
//! phone numbers, e-mail addresses and regexes, checks that each comparison
//! makes sense for its subject, and lowers the AST into the evaluator's
//! form. It never stops at the first problem, and it produces a rule set
//! only when there is no error (warnings allowed). Like the rest of
//! [`crate::lang`] it is pure: it reads no clock (today's date comes in
//! [`CheckOptions`]) and does no I/O.
//!
//! Every pass is linear in the size of the rules (names and conditions are
//! hashed, never compared pairwise) so that a 10,000-rule file checks in
//! milliseconds.
//!
//! # Diagnostic codes
//!
//! Every code the parser and the checker emit is a [`Code`], which holds
//! its text, severity and meaning (the README's table).

mod actions;
mod conditions;
mod dst;
mod names;
mod reachability;
mod times;
mod zones;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use chrono_tz::Tz;
use regex::Regex;

use super::ast;
use super::call::{TeamRef, UserRef};
use super::code::Code;
use super::diagnostic::{self, Diagnostic};
use super::index::RuleIndex;
use super::phone;
use super::rule_set::{AnnotationTemplate, CompiledRule, RuleSet};
use super::schedule::{HolidayCalendar, WeeklyHours};
use super::source::Sources;
use super::span::{FileId, Span, Spanned};
use super::CheckOptions;

use names::Names;

/// Checks `files` (parsed from `sources`) as one rule set.
///
/// Returns the rule set when there is no error, and every diagnostic found,
/// sorted by file and position.
pub fn check(
    files: &[ast::File],
    sources: &Arc<Sources>,
    options: &CheckOptions,
) -> (Option<RuleSet>, Vec<Diagnostic>) {
    let mut checker = Checker::new(sources, options);
    checker.collect_definitions(files);
    checker.lower_definitions(files);
    let file_zones = checker.file_zones(files);
    let mut rules = Vec::new();
    let mut rule_names = Vec::new();
    // The span of each rule's condition, or `None` when the rule has an
    // error (its lowered form is then incomplete and not worth analysing).
    let mut conditions = Vec::new();
    for file in files {
        let zone = file_zones.get(&file.id).copied();
        for item in &file.items {
            if let ast::Item::Rule(rule) = item {
                if let Some(name) = &rule.name {
                    rule_names.push(name);
                }
                let errors_before = checker.error_count;
                rules.push(checker.lower_rule(rule, zone));
                conditions
                    .push((checker.error_count == errors_before).then_some(rule.condition.span));
            }
        }
    }
    checker.warn_unused();
    checker.warn_duplicate_rule_names(&rule_names);
    checker.warn_unreachable(&rules, &conditions);
    checker.warn_dst_gaps();
    checker.finish(rules, &file_zones)
}

/// A short content hash of every file's name and text: the rule set's
/// revision, shown on `/status`, in logs and in each decision.
pub fn revision(sources: &Sources) -> String {
    sources
        .digest()
        .iter()
        .take(6)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A `number` definition as lowered.
#[derive(Debug, Clone)]
enum NumberAlias {
    /// An Aircall number id (`number main = 1234`).
    Id(u64),
    /// Digits, normalised to E.164.
    E164(String),
    /// Digits that are not a phone number (already reported).
    Invalid,
}

/// The state of one check run.
struct Checker<'a> {
    sources: &'a Arc<Sources>,
    options: &'a CheckOptions,
    diagnostics: Vec<Diagnostic>,
    error_count: usize,
    names: Names<'a>,
    /// Lowered definitions, indexed by the slot [`Names`] gave each one.
    numbers: Vec<NumberAlias>,
    agents: Vec<UserRef>,
    teams: Vec<TeamRef>,
    /// Named hours first (by slot), then one entry per inline `hours(...)`.
    hours: Vec<WeeklyHours>,
    /// Window boundaries of `hours`, same index, for the DST-gap warning.
    boundaries: Vec<Vec<times::Boundary>>,
    holidays: Vec<HolidayCalendar>,
    contact_fields: BTreeSet<String>,
    uses_last_agent: bool,
    /// `(hours index, zone)` pairs that time tests use, in first-use order.
    zoned_hours: Vec<(usize, Tz)>,
    zoned_hours_seen: HashSet<(usize, Tz)>,
    /// Generated files repeat patterns and numbers; compile each once.
    regexes: HashMap<String, Result<Regex, String>>,
    phones: HashMap<String, Option<String>>,
}

impl<'a> Checker<'a> {
    fn new(sources: &'a Arc<Sources>, options: &'a CheckOptions) -> Self {
        Checker {
            sources,
            options,
            diagnostics: Vec::new(),
            error_count: 0,
            names: Names::default(),
            numbers: Vec::new(),
            agents: Vec::new(),
            teams: Vec::new(),
            hours: Vec::new(),
            boundaries: Vec::new(),
            holidays: Vec::new(),
            contact_fields: BTreeSet::new(),
            uses_last_agent: false,
            zoned_hours: Vec::new(),
            zoned_hours_seen: HashSet::new(),
            regexes: HashMap::new(),
            phones: HashMap::new(),
        }
    }

    fn report(&mut self, diagnostic: Diagnostic) {
        if diagnostic.is_error() {
            self.error_count += 1;
        }
        self.diagnostics.push(diagnostic);
    }

    /// The source text under `span`, as the user wrote it.
    fn text(&self, span: Span) -> &'a str {
        let sources: &'a Sources = self.sources;
        sources.get(span.file).map_or("", |file| file.slice(span))
    }

    /// 1-based line of the start of `span`.
    fn line(&self, span: Span) -> u32 {
        u32::try_from(self.sources.line_of(span)).unwrap_or(u32::MAX)
    }

    fn file_name(&self, file: FileId) -> &'a str {
        let sources: &'a Sources = self.sources;
        sources.file_name(file)
    }

    /// Records that the rules read `contact.FIELD` (allocating only the
    /// first time: generated files repeat fields thousands of times).
    fn reads_contact_field(&mut self, field: &str) {
        if !self.contact_fields.contains(field) {
            self.contact_fields.insert(field.to_owned());
        }
    }

    /// Normalises a phone number written in the rules to E.164 (cached).
    fn normalize_phone(&mut self, text: &str) -> Option<String> {
        if let Some(known) = self.phones.get(text) {
            return known.clone();
        }
        let normalized = phone::to_e164(text, None);
        self.phones.insert(text.to_owned(), normalized.clone());
        normalized
    }

    /// Compiles a `matches` pattern (cached); the error is the regex
    /// engine's own explanation.
    fn regex(&mut self, pattern: &str) -> Result<Regex, String> {
        if let Some(known) = self.regexes.get(pattern) {
            return known.clone();
        }
        let compiled = Regex::new(pattern).map_err(|error| regex_message(&error));
        self.regexes.insert(pattern.to_owned(), compiled.clone());
        compiled
    }

    /// Lowers one rule (reporting its problems).
    fn lower_rule(&mut self, rule: &ast::Rule, file_zone: Option<Tz>) -> CompiledRule {
        let condition = self.lower_condition(&rule.condition, file_zone);
        let decision = self.lower_decision(&rule.decision);
        let annotations = rule
            .annotations
            .iter()
            .map(|annotation| match annotation {
                ast::Annotation::Tag(tag) => AnnotationTemplate::Tag(tag.node.clone()),
                ast::Annotation::Comment(text) => AnnotationTemplate::Comment(text.node.clone()),
            })
            .collect();
        CompiledRule {
            name: rule.name.as_ref().map(|name| Arc::from(name.node.as_str())),
            span: rule.span,
            line: self.line(rule.span),
            condition,
            decision,
            annotations,
        }
    }

    /// Two rules with one name make traces, logs and tests ambiguous.
    fn warn_duplicate_rule_names(&mut self, names: &[&Spanned<String>]) {
        let mut first: HashMap<&str, Span> = HashMap::new();
        for name in names {
            match first.get(name.node.as_str()) {
                Some(&earlier) => self.report(
                    Diagnostic::new(
                        Code::DuplicateRuleName,
                        name.span,
                        format!("another rule is already named {}", self.text(name.span)),
                    )
                    .with_help(
                        "give each rule its own name, so traces and logs say which one decided",
                    )
                    .with_note(earlier, "the first rule with this name"),
                ),
                None => {
                    first.insert(&name.node, name.span);
                }
            }
        }
    }

    fn finish(
        mut self,
        rules: Vec<CompiledRule>,
        file_zones: &HashMap<FileId, Tz>,
    ) -> (Option<RuleSet>, Vec<Diagnostic>) {
        diagnostic::sort(&mut self.diagnostics);
        if self.error_count > 0 {
            return (None, self.diagnostics);
        }
        let index = RuleIndex::build(&rules);
        let symbols = self.symbols(file_zones);
        let rule_set = RuleSet {
            sources: Arc::clone(self.sources),
            revision: revision(self.sources),
            symbols,
            rules,
            index,
            hours: self.hours,
            holidays: self.holidays,
            contact_fields: self.contact_fields,
            uses_last_agent: self.uses_last_agent,
        };
        (Some(rule_set), self.diagnostics)
    }
}

/// The useful line of a regex error: the engine's message is several lines
/// (the pattern, a caret, then `error: ...`), and the pattern is already
/// under the diagnostic's own carets.
fn regex_message(error: &regex::Error) -> String {
    let full = error.to_string();
    full.lines()
        .rev()
        .find_map(|line| line.trim().strip_prefix("error: "))
        .map_or_else(|| full.trim().to_owned(), str::to_owned)
}

/// Whether `text` looks like an e-mail address: one `@`, something before
/// it, and a dotted domain after it. Aircall decides the rest.
fn looks_like_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn emails() {
        assert!(looks_like_email("alice@example.com"));
        assert!(looks_like_email("zoë@example.co.uk"));
        assert!(!looks_like_email("alice"));
        assert!(!looks_like_email("alice@example"));
        assert!(!looks_like_email("@example.com"));
        assert!(!looks_like_email("a@b@example.com"));
        assert!(!looks_like_email("alice smith@example.com"));
        assert!(!looks_like_email("alice@example..com"));
    }

    #[test]
    fn regex_errors_keep_the_explanation() {
        // Built at run time: clippy rejects invalid regex literals.
        let pattern = String::from("(ab");
        let error = Regex::new(&pattern).unwrap_err();
        assert_eq!(regex_message(&error), "unclosed group");
    }

    #[test]
    fn revision_depends_on_names_and_texts() {
        let a = revision(&Sources::single("a.rules", "keep"));
        assert_eq!(a.len(), 12);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a, revision(&Sources::single("a.rules", "keep")));
        assert_ne!(a, revision(&Sources::single("b.rules", "keep")));
        assert_ne!(a, revision(&Sources::single("a.rules", "keep ")));
    }
}
