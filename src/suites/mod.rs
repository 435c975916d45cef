//! Rule test suites: the `*.test.yaml` files beside rules files, and the
//! runner behind `switchboard test`.
//!
//! A suite is read in two steps. [`Suite::load`] reads the YAML
//! ([`suite`]: the shape, unknown keys refused); [`prepare`] then gives
//! each case its meaning against the compiled rules: the call built through
//! the same webhook decoding `serve` uses ([`Envelope::to_call`]), the
//! instant ([`instant`]; without a zone, in the zone of the expected
//! rule's file), expected rules looked up by name, expected targets
//! resolved like the rules resolve them, names from the rule set's symbol
//! table. Every problem of every case
//! is reported at once. [`runner::run`] decides each call with
//! [`RuleSet::evaluate`] and explains failures with [`RuleSet::explain`]:
//! there is no second evaluator here, only comparison.
//!
//! This module reads the test file and the payloads it names; it never
//! writes and never prints (that is `cli::test`).

pub mod instant;
pub mod runner;
pub mod suite;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{json, Map, Value as Json};

use crate::aircall::webhook::{unix_seconds, Envelope};
use crate::lang::ast::{Item, Ringing, RoutingAction, TargetRef};
use crate::lang::call::{Agent, AvailabilityList, Call};
use crate::lang::outcome::{TeamTarget, UserTarget};
use crate::lang::parse::parse_file;
use crate::lang::symbols::{Kind, NumberValue, SymbolValue};
use crate::lang::{phone, suggest, Contact, FileId, RuleSet, SourceFile, Target};

use suite::{ActionKind, CallFields, CaseFile, ExpectFields, NumberInput, SuiteFile, TargetInput};

/// The suffixes of test files, tried in this order.
pub const TEST_SUFFIXES: [&str; 2] = [".test.yaml", ".test.yml"];

/// A test file, read and shaped but not yet related to rules.
#[derive(Debug, Clone)]
pub struct Suite {
    pub path: PathBuf,
    /// The rules it tests: its `rules:` key, or the sibling `NAME.rules`.
    pub rules: PathBuf,
    pub file: SuiteFile,
}

impl Suite {
    /// Reads a test file. `rules` overrides where the rules are (to try a
    /// candidate rules file against existing tests).
    pub fn load(path: &Path, rules: Option<&Path>) -> Result<Suite, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("{}: cannot read: {error}", path.display()))?;
        let file =
            suite::parse(&text).map_err(|problem| format!("{}: {problem}", path.display()))?;
        let rules = match (rules, &file.rules) {
            (Some(rules), _) => rules.to_owned(),
            (None, Some(rules)) => base_dir(path).join(rules),
            (None, None) => rules_beside(path).ok_or_else(|| {
                format!(
                    "{}: a test file is named NAME.test.yaml and tests NAME.rules, \
                     or says `rules: FILE`",
                    path.display()
                )
            })?,
        };
        Ok(Suite {
            path: path.to_owned(),
            rules,
            file,
        })
    }
}

/// Whether a file name ends like a test file.
pub fn is_test_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| TEST_SUFFIXES.iter().any(|suffix| name.ends_with(suffix)))
}

/// `rules/main.test.yaml` -> `rules/main.rules`.
pub fn rules_beside(test: &Path) -> Option<PathBuf> {
    let name = test.file_name()?.to_str()?;
    let stem = TEST_SUFFIXES
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))?;
    Some(test.with_file_name(format!("{stem}.rules")))
}

/// `rules/main.rules` -> the first of `rules/main.test.yaml`,
/// `rules/main.test.yml` that exists.
pub fn test_beside(rules: &Path) -> Option<PathBuf> {
    let stem = rules.file_stem()?.to_str()?;
    TEST_SUFFIXES
        .iter()
        .map(|suffix| rules.with_file_name(format!("{stem}{suffix}")))
        .find(|path| path.is_file())
}

fn base_dir(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

/// One case, ready to run.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub call: Call,
    pub contact: Option<Contact>,
    pub last_agent: Option<Agent>,
    pub availability: AvailabilityList,
    pub expect: Expectation,
    /// Rules that must not decide: the name as written, and the indexes of
    /// the rules with that name.
    pub not_rules: Vec<(String, Vec<usize>)>,
}

/// What a case expects; `None` parts are not checked.
#[derive(Debug, Clone, Default)]
pub struct Expectation {
    pub rule: Option<ExpectedRule>,
    pub action: Option<ExpectedAction>,
    pub tags: Option<Vec<String>>,
    pub comments: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpectedRule {
    /// No rule matched (the call is kept, or the event ignored).
    NoRule,
    /// One of these rules decided (several rules may share a name).
    Rule { label: String, indexes: Vec<usize> },
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExpectedAction {
    Keep,
    Ignored,
    Transfer {
        to: Option<ExpectedTarget>,
        fallbacks: Option<Vec<ExpectedTarget>>,
    },
}

/// A target a case expects; a team without `ringing` matches any strategy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedTarget(pub Target);

impl Expectation {
    /// The expectation in a few words: `rule "VIP": transfer to agent x`.
    pub fn describe(&self) -> String {
        let rule = match &self.rule {
            None => None,
            Some(ExpectedRule::NoRule) => Some("no rule".to_owned()),
            Some(ExpectedRule::Rule { label, .. }) => Some(label.clone()),
        };
        let action = match &self.action {
            None => None,
            Some(ExpectedAction::Keep) => Some("keep".to_owned()),
            Some(ExpectedAction::Ignored) => Some("ignored".to_owned()),
            Some(ExpectedAction::Transfer { to, fallbacks }) => {
                let mut text = match to {
                    Some(to) => format!("transfer to {to}"),
                    None => "a transfer".to_owned(),
                };
                if let Some(fallbacks) = fallbacks {
                    let list: Vec<String> = fallbacks.iter().map(ToString::to_string).collect();
                    if list.is_empty() {
                        text.push_str(" (no fallbacks)");
                    } else {
                        text.push_str(&format!(" (fallbacks: {})", list.join(", ")));
                    }
                }
                Some(text)
            }
        };
        let mut text = match (rule, action) {
            (Some(rule), Some(action)) => format!("{rule}: {action}"),
            (Some(rule), None) => rule,
            (None, Some(action)) => action,
            (None, None) => String::new(),
        };
        if let Some(tags) = &self.tags {
            let tags: Vec<String> = tags.iter().map(|t| format!("{t:?}")).collect();
            text.push_str(&format!(", tags [{}]", tags.join(", ")));
        }
        if let Some(comments) = &self.comments {
            let comments: Vec<String> = comments.iter().map(|t| format!("{t:?}")).collect();
            text.push_str(&format!(", comments [{}]", comments.join(", ")));
        }
        text
    }
}

/// `rule "VIP" (line 28)`, or `rule at line 12` for an unnamed rule.
pub fn rule_label(name: Option<&str>, line: u32) -> String {
    match name {
        Some(name) => format!("rule {name:?} (line {line})"),
        None => format!("rule at line {line}"),
    }
}

/// Relates a suite to its compiled rules: every case becomes a [`Case`],
/// or every problem found (each naming its case and key) is returned.
pub fn prepare(suite: &Suite, rule_set: &RuleSet) -> Result<Vec<Case>, Vec<String>> {
    let mut preparer = Preparer::new(suite, rule_set);
    let mut cases = Vec::with_capacity(suite.file.cases.len());
    let mut problems = Vec::new();
    if suite.file.cases.is_empty() {
        problems.push("`cases` is empty: a test file needs at least one case".to_owned());
    }
    let default_call = suite
        .file
        .call
        .as_ref()
        .map(|call| call.0.clone())
        .unwrap_or_default();
    let default_at = match &suite.file.at {
        Some(at) => match instant::parse_instant(at, preparer.default_zone()) {
            Ok(_) => Some(DefaultAt::Valid(at)),
            Err(problem) => {
                problems.push(format!("at: {problem}"));
                // As for a case's `at`: report this problem once, not as a
                // missing instant in every case.
                Some(DefaultAt::Invalid)
            }
        },
        None => None,
    };
    if let Some(Err(problem)) = &preparer.zone_error {
        problems.push(format!("zone: {problem}"));
    }
    let mut names = HashSet::new();
    for (index, case) in suite.file.cases.iter().enumerate() {
        let label = format!("cases[{index}] ({:?})", case.name);
        if case.name.trim().is_empty() {
            problems.push(format!("cases[{index}]: the name is empty"));
        } else if !names.insert(case.name.as_str()) {
            problems.push(format!("{label}: another case has the same name"));
        }
        match preparer.case(case, &default_call, default_at) {
            Ok(case) => cases.push(case),
            Err(errors) => problems.extend(
                errors
                    .into_iter()
                    .map(|problem| format!("{label}: {problem}")),
            ),
        }
    }
    if problems.is_empty() {
        Ok(cases)
    } else {
        Err(problems)
    }
}

struct Preparer<'s> {
    base: &'s Path,
    rule_set: &'s RuleSet,
    /// The suite's `zone:`, which every `at:` without a zone is read in.
    suite_zone: Option<Tz>,
    /// Else the `timezone` of the first rules file that has one, for cases
    /// that name no rule.
    first_file_zone: Option<Tz>,
    zone_error: Option<Result<(), String>>,
    payloads: HashMap<String, Result<Json, String>>,
}

impl<'s> Preparer<'s> {
    fn new(suite: &'s Suite, rule_set: &'s RuleSet) -> Preparer<'s> {
        let (suite_zone, zone_error) = match &suite.file.zone {
            Some(zone) => match instant::parse_zone(zone) {
                Ok(zone) => (Some(zone), None),
                Err(problem) => (None, Some(Err(problem))),
            },
            None => (None, None),
        };
        let symbols = rule_set.symbols();
        let first_file_zone = rule_set
            .sources()
            .iter()
            .find_map(|(file, _)| symbols.zone_of(file));
        Preparer {
            base: base_dir(&suite.path),
            rule_set,
            suite_zone,
            first_file_zone,
            zone_error,
            payloads: HashMap::new(),
        }
    }

    /// The zone of a suite-wide `at:` without one: the suite's `zone:`,
    /// else the first rules file's `timezone`.
    fn default_zone(&self) -> Option<Tz> {
        self.suite_zone.or(self.first_file_zone)
    }

    /// The zone a case's `at:` without one is read in: the suite's
    /// `zone:`, else the `timezone` of the file that defines the rule the
    /// case expects (the clock the checker gives that rule's time tests,
    /// and the zone `switchboard calendar` shows its file's hours in), else
    /// the first rules file's `timezone`.
    fn case_zone(&self, expect: Option<&Expectation>) -> Option<Tz> {
        if self.suite_zone.is_some() {
            return self.suite_zone;
        }
        let expected_rule = match expect.and_then(|expect| expect.rule.as_ref()) {
            Some(ExpectedRule::Rule { indexes, .. }) => indexes.first().copied(),
            _ => None,
        };
        let rule_zone =
            expected_rule.and_then(|index| self.rule_set.rule(index).map(|rule| rule.zone));
        match rule_zone {
            Some(zone) => zone,
            None => self.first_file_zone,
        }
    }

    fn case(
        &mut self,
        case: &CaseFile,
        default_call: &CallFields,
        default_at: Option<DefaultAt<'_>>,
    ) -> Result<Case, Vec<String>> {
        let mut problems = Vec::new();
        // Resolved first, as the expected rule decides the zone of `at`;
        // its problems are listed after those of `at` and `call`.
        let expected = self.expectation(&case.expect.0);
        let zone = self.case_zone(expected.as_ref().ok());
        let (at, key) = match (&case.at, default_at) {
            (Some(at), _) => (Some(at.as_str()), "at"),
            (None, Some(DefaultAt::Valid(at))) => (Some(at), "at (the suite's)"),
            // Already reported once for the suite.
            (None, Some(DefaultAt::Invalid)) => (None, ""),
            (None, None) => (None, ""),
        };
        let at = match at {
            Some(at) => match instant::parse_instant(at, zone) {
                Ok(at) => Some(at),
                Err(problem) => {
                    problems.push(format!("{key}: {problem}"));
                    // Stands in for the bad instant so that the call's own
                    // problems (and only those) are reported too.
                    Some(DateTime::UNIX_EPOCH)
                }
            },
            None if matches!(default_at, Some(DefaultAt::Invalid)) => Some(DateTime::UNIX_EPOCH),
            None => None,
        };
        let fields = match &case.call {
            Some(call) => default_call.merged(&call.0),
            None => default_call.clone(),
        };
        let call = match self.call(&fields, at) {
            Ok(call) => Some(call),
            Err(problem) => {
                problems.push(problem);
                None
            }
        };
        let expect = match expected {
            Ok(expect) => Some(expect),
            Err(errors) => {
                problems.extend(
                    errors
                        .into_iter()
                        .map(|problem| format!("expect: {problem}")),
                );
                None
            }
        };
        let mut not_rules = Vec::new();
        for name in &case.not_rules {
            match self.rule_named(name) {
                Ok(indexes) => not_rules.push((name.clone(), indexes)),
                Err(problem) => problems.push(format!("not_rules: {problem}")),
            }
        }
        match (call, expect) {
            (Some(call), Some(expect)) if problems.is_empty() => Ok(Case {
                name: case.name.clone(),
                call,
                contact: case.contact.clone(),
                last_agent: case
                    .last_agent
                    .as_ref()
                    .map(|user| Agent::from_ref(&user.0)),
                availability: AvailabilityList {
                    available: case.available.iter().map(|u| u.0.clone()).collect(),
                    unavailable: case.unavailable.iter().map(|u| u.0.clone()).collect(),
                },
                expect,
                not_rules,
            }),
            _ => Err(problems),
        }
    }

    // ------------------------------------------------------------ calls

    /// Builds the webhook body the case describes and decodes it as `serve`
    /// would, so a test sees exactly the facts a live call would give.
    fn call(&mut self, fields: &CallFields, at: Option<DateTime<Utc>>) -> Result<Call, String> {
        let mut body = match &fields.payload {
            Some(path) => self.payload(path)?,
            None => json!({
                "resource": "call",
                "event": "call.created",
                "token": "switchboard-test",
                "data": { "id": 1, "direction": "inbound" },
            }),
        };
        let envelope = body
            .as_object_mut()
            .ok_or("call.payload: the payload is not a JSON object")?;
        if let Some(event) = &fields.event {
            envelope.insert("event".into(), event.as_str().into());
        }
        let data = object(envelope, "data")?;
        if let Some(direction) = &fields.direction {
            if direction != "inbound" && direction != "outbound" {
                return Err(format!(
                    "call.direction: `{direction}` is neither `inbound` nor `outbound`"
                ));
            }
            data.insert("direction".into(), direction.as_str().into());
        }
        if let Some(caller) = &fields.caller {
            data.insert("raw_digits".into(), caller.0.as_str().into());
        }
        if let Some(id) = fields.id {
            data.insert("id".into(), id.into());
        }
        let number = object(data, "number")?;
        match &fields.number {
            Some(NumberInput::Id(id)) => {
                number.insert("id".into(), (*id).into());
            }
            Some(NumberInput::Digits(digits)) => {
                number.insert("digits".into(), digits.as_str().into());
            }
            None => {}
        }
        if let Some(id) = fields.number_id {
            number.insert("id".into(), id.into());
        }
        if let Some(digits) = &fields.number_digits {
            number.insert("digits".into(), digits.0.as_str().into());
        }
        if let Some(country) = &fields.country {
            number.insert("country".into(), country.as_str().into());
        }
        if let Some(zone) = &fields.time_zone {
            instant::parse_zone(zone).map_err(|problem| format!("call.time_zone: {problem}"))?;
            number.insert("time_zone".into(), zone.as_str().into());
        }
        if let Some(digits) = number.get("digits").and_then(Json::as_str) {
            let region = number.get("country").and_then(Json::as_str);
            if phone::normalize(digits, region).is_none() {
                return Err(format!(
                    "call.number: `{digits}` is not a phone number (an integer is an id)"
                ));
            }
        }

        let has_time =
            data_has(&body, "started_at") || body.get("timestamp").is_some_and(|t| !t.is_null());
        if at.is_none() && !has_time {
            return Err("no instant: give `at:` (in the case, or for the whole file)".to_owned());
        }
        let bytes = serde_json::to_vec(&body).map_err(|error| error.to_string())?;
        let envelope = Envelope::from_slice(&bytes).map_err(|error| format!("call: {error}"))?;
        let received = at.unwrap_or(DateTime::UNIX_EPOCH);
        let mut call = if envelope.family() == "call" {
            let data = envelope
                .call_data()
                .map_err(|error| format!("call: {error}"))?;
            envelope.to_call(&data, received)
        } else {
            // Not about a call (`user.opened`): only its name and time
            // matter, and the evaluator ignores it.
            Call {
                event: envelope.event.clone(),
                id: None,
                direction: None,
                instant: envelope
                    .timestamp
                    .and_then(unix_seconds)
                    .unwrap_or(received),
                caller: None,
                number_id: None,
                number_e164: None,
                number_zone: None,
            }
        };
        if let Some(at) = at {
            call.instant = at;
        }
        Ok(call)
    }

    fn payload(&mut self, path: &str) -> Result<Json, String> {
        let base = self.base;
        self.payloads
            .entry(path.to_owned())
            .or_insert_with(|| {
                let full = base.join(path);
                let text = std::fs::read(&full).map_err(|error| {
                    let why = if error.kind() == std::io::ErrorKind::NotFound {
                        "no such file".to_owned()
                    } else {
                        error.to_string()
                    };
                    format!("call.payload: {}: {why}", full.display())
                })?;
                serde_json::from_slice(&text).map_err(|error| {
                    format!("call.payload: {}: not valid JSON: {error}", full.display())
                })
            })
            .clone()
    }

    // ------------------------------------------------------------ expectations

    fn expectation(&self, fields: &ExpectFields) -> Result<Expectation, Vec<String>> {
        let mut problems = Vec::new();
        let rule = match (&fields.rule, fields.rule_line) {
            (Some(_), Some(_)) => {
                problems.push("give `rule` or `rule_line`, not both".to_owned());
                None
            }
            (Some(None), None) => Some(ExpectedRule::NoRule),
            (Some(Some(name)), None) => match self.rule_named(name) {
                Ok(indexes) => Some(ExpectedRule::Rule {
                    label: format!("rule {name:?}"),
                    indexes,
                }),
                Err(problem) => {
                    problems.push(format!("rule: {problem}"));
                    None
                }
            },
            (None, Some(line)) => {
                let indexes: Vec<usize> = self
                    .rule_set
                    .rules()
                    .filter(|rule| rule.line == line)
                    .map(|rule| rule.index)
                    .collect();
                if indexes.is_empty() {
                    problems.push(format!("rule_line: no rule starts on line {line}"));
                    None
                } else {
                    Some(ExpectedRule::Rule {
                        label: format!("the rule at line {line}"),
                        indexes,
                    })
                }
            }
            (None, None) => None,
        };

        let mut resolve = |input: &TargetInput, key: &str| match self.target(input) {
            Ok(target) => Some(target),
            Err(problem) => {
                problems.push(format!("{key}: {problem}"));
                None
            }
        };
        let to = fields.target.as_ref().map(|t| resolve(t, "target"));
        let fallbacks = fields.fallbacks.as_ref().map(|list| {
            list.iter()
                .enumerate()
                .map(|(i, t)| resolve(t, &format!("fallbacks[{i}]")))
                .collect::<Vec<_>>()
        });
        let wants_transfer = to.is_some() || fallbacks.is_some();
        let action = match fields.action {
            Some(ActionKind::Keep | ActionKind::Ignored) if wants_transfer => {
                problems.push(
                    "`target` and `fallbacks` go with a transfer, not this action".to_owned(),
                );
                None
            }
            Some(ActionKind::Keep) => Some(ExpectedAction::Keep),
            Some(ActionKind::Ignored) => Some(ExpectedAction::Ignored),
            Some(ActionKind::Transfer) | None if wants_transfer || fields.action.is_some() => {
                Some(ExpectedAction::Transfer {
                    to: to.flatten(),
                    fallbacks: fallbacks.map(|list| list.into_iter().flatten().collect()),
                })
            }
            _ => None,
        };
        if rule.is_none()
            && action.is_none()
            && fields.tags.is_none()
            && fields.comments.is_none()
            && problems.is_empty()
        {
            problems.push(
                "it says nothing: give `rule`, `action`, `target`, or write `expect: keep`"
                    .to_owned(),
            );
        }
        if problems.is_empty() {
            Ok(Expectation {
                rule,
                action,
                tags: fields.tags.clone(),
                comments: fields.comments.clone(),
            })
        } else {
            Err(problems)
        }
    }

    /// The indexes of the rules named `name`.
    fn rule_named(&self, name: &str) -> Result<Vec<usize>, String> {
        let indexes: Vec<usize> = self
            .rule_set
            .rules()
            .filter(|rule| rule.name == Some(name))
            .map(|rule| rule.index)
            .collect();
        if !indexes.is_empty() {
            return Ok(indexes);
        }
        let names: Vec<&str> = self.rule_set.rules().filter_map(|rule| rule.name).collect();
        let mut problem = format!("no rule is named {name:?}");
        if let Some(found) = suggest::closest(name, names.iter().copied()) {
            problem.push_str(&format!("; did you mean {found:?}?"));
        }
        Err(problem)
    }

    /// Resolves an expected target the way the rules resolve theirs.
    fn target(&self, input: &TargetInput) -> Result<ExpectedTarget, String> {
        match input {
            TargetInput::Map(fields) => {
                let ringing = fields.ringing.as_deref().map(parse_ringing).transpose()?;
                let target = match (&fields.user, &fields.team, &fields.number) {
                    (Some(user), None, None) => Target::User(user.0.clone().into()),
                    (None, Some(team), None) => Target::Team {
                        team: match team {
                            suite::TeamInput::Id(id) => TeamTarget::Id(*id),
                            suite::TeamInput::Name(name) => TeamTarget::Name(name.clone()),
                        },
                        ringing,
                    },
                    (None, None, Some(number)) => Target::Number(e164(&number.0)?),
                    _ => return Err("give exactly one of `user`, `team` or `number`".to_owned()),
                };
                if ringing.is_some() && !matches!(target, Target::Team { .. }) {
                    return Err("`ringing` goes with a team".to_owned());
                }
                Ok(ExpectedTarget(target))
            }
            TargetInput::Text(text) => self.target_text(text),
        }
    }

    /// A target in rules syntax, read by the rules parser itself.
    fn target_text(&self, text: &str) -> Result<ExpectedTarget, String> {
        // YAML takes the quotes off `"+18001234567"`: a bare phone number
        // is still a phone number here.
        if text
            .trim_start()
            .starts_with(|c: char| c == '+' || c == '(' || c.is_ascii_digit())
        {
            return e164(text).map(|number| ExpectedTarget(Target::Number(number)));
        }
        let source = SourceFile::new("<target>", format!("when always transfer to {text}"));
        let not_a_target = || {
            format!(
                "`{text}` is not a target (write `alice`, `team sales`, `agent \"x@y.z\"`, \
                 `user 12`, `team \"Sales\"` or \"+18001234567\")"
            )
        };
        let ast = parse_file(&source, FileId(0)).map_err(|_| not_a_target())?;
        let target = match ast.items.as_slice() {
            [Item::Rule(rule)] if rule.annotations.is_empty() => match &rule.decision {
                RoutingAction::Transfer { targets, .. } => match targets.as_slice() {
                    [target] => target.clone(),
                    _ => {
                        return Err(format!(
                            "`{text}`: one target here; list the others under `fallbacks:`"
                        ))
                    }
                },
                RoutingAction::Keep(_) => return Err(not_a_target()),
            },
            _ => return Err(not_a_target()),
        };
        let ringing = target.ringing.map(|r| r.node);
        let resolved = match &target.kind {
            TargetRef::Phone(number) => Target::Number(e164(&number.node)?),
            TargetRef::UserId(id) => Target::User(UserTarget::Id(id.node)),
            TargetRef::UserEmail(email) => Target::User(UserTarget::Email(email.node.clone())),
            TargetRef::TeamName(name) => Target::Team {
                team: TeamTarget::Name(name.node.clone()),
                ringing,
            },
            TargetRef::TeamId(id) => Target::Team {
                team: TeamTarget::Id(id.node),
                ringing,
            },
            TargetRef::ContactAgent(_) | TargetRef::LastAgent(_) => {
                return Err(format!(
                    "`{text}` depends on the call; name the agent the call goes to \
                     (e.g. `agent \"bob@example.com\"`)"
                ))
            }
            TargetRef::Name(name) => self.named_target(&name.node, ringing)?,
            TargetRef::TeamAlias(name) => match self.symbol_value(&name.node) {
                Some(SymbolValue::Team(team)) => Target::Team {
                    team: team.clone().into(),
                    ringing,
                },
                _ => return Err(format!("`{}` is not a team of the rules", name.node)),
            },
        };
        if ringing.is_some() && !matches!(resolved, Target::Team { .. }) {
            return Err(format!("`{text}`: `ringing` goes with a team"));
        }
        Ok(ExpectedTarget(resolved))
    }

    /// The value of the definition named `name`, from the symbol table.
    fn symbol_value(&self, name: &str) -> Option<&'s SymbolValue> {
        let rule_set: &'s RuleSet = self.rule_set;
        rule_set.symbols().get(name).map(|symbol| &symbol.value)
    }

    fn named_target(&self, name: &str, ringing: Option<Ringing>) -> Result<Target, String> {
        match self.symbol_value(name) {
            Some(SymbolValue::Agent(user)) => Ok(Target::User(user.clone().into())),
            Some(SymbolValue::Team(team)) => Ok(Target::Team {
                team: team.clone().into(),
                ringing,
            }),
            Some(SymbolValue::Number(NumberValue::E164(e164))) => Ok(Target::Number(e164.clone())),
            Some(SymbolValue::Number(NumberValue::Id(_))) => Err(format!(
                "number `{name}` is given by its Aircall id; a transfer goes to digits"
            )),
            Some(SymbolValue::Hours(_) | SymbolValue::Holidays(_)) | None => {
                let mut problem =
                    format!("no agent, team or number is named `{name}` in the rules");
                let mut targets: Vec<&str> = self
                    .rule_set
                    .symbols()
                    .iter()
                    .filter(|symbol| {
                        matches!(symbol.kind(), Kind::Agent | Kind::Team | Kind::Number)
                    })
                    .map(|symbol| symbol.name.as_str())
                    .collect();
                // Sorted, so that a tie between two close names always
                // suggests the same one.
                targets.sort_unstable();
                if let Some(found) = suggest::closest(name, targets) {
                    problem.push_str(&format!("; {}", suggest::did_you_mean(found)));
                }
                Err(problem)
            }
        }
    }
}

/// A suite-wide `at:`: its text, read again in each case's zone, or
/// invalid (reported once for the suite).
#[derive(Debug, Clone, Copy)]
enum DefaultAt<'a> {
    Valid(&'a str),
    Invalid,
}

/// `data.KEY` is present and not null.
fn data_has(body: &Json, key: &str) -> bool {
    body.get("data")
        .and_then(|data| data.get(key))
        .is_some_and(|value| !value.is_null())
}

/// The object under `key`, created when absent or null.
fn object<'a>(
    parent: &'a mut Map<String, Json>,
    key: &str,
) -> Result<&'a mut Map<String, Json>, String> {
    let value = parent
        .entry(key.to_owned())
        .or_insert_with(|| Json::Object(Map::new()));
    if value.is_null() {
        *value = Json::Object(Map::new());
    }
    value
        .as_object_mut()
        .ok_or_else(|| format!("call.payload: `{key}` is not an object"))
}

fn e164(text: &str) -> Result<String, String> {
    phone::normalize(text, None)
        .map(|number| number.e164)
        .ok_or_else(|| format!("`{text}` is not a phone number in international form"))
}

fn parse_ringing(text: &str) -> Result<Ringing, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "longest_idle" => Ok(Ringing::LongestIdle),
        "random" => Ok(Ringing::Random),
        "simultaneous" => Ok(Ringing::Simultaneous),
        other => Err(format!(
            "ringing `{other}` is none of `longest_idle`, `random`, `simultaneous`"
        )),
    }
}
