//! Evaluation tests at fixed instants, driven by data files.
//!
//! Each `tests/data/eval/*.yaml` file is a suite: a rules text, default call
//! facts (`call`) and `cases`. A case overrides any default and says what
//! the decision must be (`expect`) and, optionally, every condition
//! `explain` must report (`explain`, one `TEXT: RESULT (DETAIL)` line per
//! condition evaluated, across the rules tried). Case fields:
//!
//! - `at`: the instant (RFC 3339; `Z` or an offset), sent as `data.started_at`
//! - `event` (default `call.created`), `direction` (default `inbound`)
//! - `caller`: `data.raw_digits`; `number`: `data.number.id`; `digits`,
//!   `country`, `zone`: `data.number.{digits,country,time_zone}`
//! - `contact`: field map; `last_agent`: an id or e-mail (or `{id, email}`);
//!   `available` / `unavailable`: lists of ids or e-mails
//!
//! Calls are built through the real webhook decoding
//! (`aircall::webhook::Envelope`), and every case runs both `evaluate` and
//! `explain`, which must agree (explain traces every rule tried, evaluate
//! only the deciding one). To add a case, add it to a file; to add a
//! suite, add a file and its name to `suites!` below (a test checks the list).
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::Deserialize;
use serde_json::json;
use switchboard::aircall::webhook::Envelope;
use switchboard::lang::call::{Agent, AvailabilityList, Context, UserRef};
use switchboard::lang::outcome::{Action, Outcome, Target};
use switchboard::lang::{compile, CheckOptions, Contact, RuleSet, Sources, Value};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/eval");

/// One data file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Suite {
    rules: String,
    /// Defaults for every case.
    #[serde(default)]
    call: serde_yaml::Mapping,
    cases: Vec<serde_yaml::Mapping>,
}

/// One case, with the suite's defaults applied.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// What the case is about, shown on failure.
    #[serde(default)]
    about: Option<String>,
    at: DateTime<Utc>,
    #[serde(default = "call_created")]
    event: String,
    #[serde(default = "inbound")]
    direction: String,
    #[serde(default)]
    caller: Option<String>,
    #[serde(default)]
    number: Option<u64>,
    #[serde(default)]
    digits: Option<String>,
    #[serde(default)]
    country: Option<String>,
    #[serde(default)]
    zone: Option<String>,
    #[serde(default)]
    contact: Option<BTreeMap<String, Value>>,
    #[serde(default)]
    last_agent: Option<AgentSpec>,
    #[serde(default)]
    available: Vec<String>,
    #[serde(default)]
    unavailable: Vec<String>,
    expect: String,
    #[serde(default)]
    explain: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum AgentSpec {
    Ref(String),
    Id(u64),
    Full {
        id: Option<u64>,
        email: Option<String>,
    },
}

fn call_created() -> String {
    "call.created".to_owned()
}

fn inbound() -> String {
    "inbound".to_owned()
}

fn compile_rules(name: &str, text: &str) -> RuleSet {
    let options = CheckOptions::new(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap());
    let compiled = compile(Sources::single(name, text), &options);
    let errors: Vec<String> = compiled
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{d:?}"))
        .collect();
    compiled
        .rule_set
        .unwrap_or_else(|| panic!("{name}: the rules do not compile:\n{}", errors.join("\n")))
}

/// The webhook body a case describes, decoded as the server would.
fn call_of(case: &Case) -> switchboard::lang::Call {
    let mut number = serde_json::Map::new();
    if let Some(id) = case.number {
        number.insert("id".into(), json!(id));
    }
    if let Some(digits) = &case.digits {
        number.insert("digits".into(), json!(digits));
    }
    if let Some(country) = &case.country {
        number.insert("country".into(), json!(country));
    }
    if let Some(zone) = &case.zone {
        number.insert("time_zone".into(), json!(zone));
    }
    let body = json!({
        "resource": "call",
        "event": case.event,
        "timestamp": case.at.timestamp(),
        "token": "test",
        "data": {
            "id": 780_836_754,
            "direction": case.direction,
            "status": "initial",
            "started_at": case.at.timestamp(),
            "raw_digits": case.caller,
            "number": if number.is_empty() { serde_json::Value::Null } else { number.into() },
        }
    });
    let envelope = Envelope::from_slice(body.to_string().as_bytes()).unwrap();
    let data = envelope.call_data().unwrap();
    // A received-at far from `at` shows if the instant is not taken from the body.
    envelope.to_call(&data, Utc.timestamp_opt(0, 0).unwrap())
}

fn agent_of(spec: &AgentSpec) -> Agent {
    match spec {
        AgentSpec::Ref(text) => Agent::from_ref(&UserRef::parse(text)),
        AgentSpec::Id(id) => Agent::from_ref(&UserRef::Id(*id)),
        AgentSpec::Full { id, email } => Agent {
            id: *id,
            email: email.clone(),
        },
    }
}

/// `rule "name": transfer to X then Y (skipped T: why); tag "t"`.
fn summary(outcome: &Outcome) -> String {
    let decision = &outcome.decision;
    if let Some(why) = decision.ignored {
        return format!("ignored: {why}");
    }
    let mut text = match &decision.rule {
        Some(rule) => match &rule.name {
            Some(name) => format!("rule {name:?}: "),
            None => format!("rule at line {}: ", rule.line),
        },
        None => "no rule: ".to_owned(),
    };
    let actions: Vec<String> = decision.actions.iter().map(action_summary).collect();
    text.push_str(&actions.join("; "));
    text
}

fn target_summary(target: &Target) -> String {
    match target {
        Target::Team {
            ringing: Some(ringing),
            ..
        } => format!("{target} ringing {}", ringing.as_str()),
        _ => target.to_string(),
    }
}

fn action_summary(action: &Action) -> String {
    match action {
        Action::Transfer {
            to,
            fallbacks,
            skipped,
        } => {
            let mut text = format!("transfer to {}", target_summary(to));
            if !fallbacks.is_empty() {
                let rest: Vec<String> = fallbacks.iter().map(target_summary).collect();
                write!(text, " then {}", rest.join(", ")).unwrap();
            }
            for skip in skipped {
                write!(text, " (skipped {}: {})", skip.target, skip.reason).unwrap();
            }
            text
        }
        Action::Keep { reason: None } => "keep".to_owned(),
        Action::Keep {
            reason: Some(reason),
        } => format!("keep ({reason})"),
        Action::Tag { tag } => format!("tag {tag:?}"),
        Action::Comment { text } => format!("comment {text:?}"),
    }
}

/// Every condition explain reports, one line each.
fn explain_lines(outcome: &Outcome) -> Vec<String> {
    outcome
        .trace
        .iter()
        .flat_map(|rule| &rule.conditions)
        .map(|c| format!("{}: {} ({})", c.text, c.result, c.detail))
        .collect()
}

/// Runs one suite and returns a description of every failing case.
fn run_suite(file: &str) -> Vec<String> {
    let path = Path::new(DATA).join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let suite: Suite = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    let rules = compile_rules(file, &suite.rules);
    let mut failures = Vec::new();
    for (index, overrides) in suite.cases.iter().enumerate() {
        let mut merged = suite.call.clone();
        for (key, value) in overrides {
            merged.insert(key.clone(), value.clone());
        }
        let case: Case = serde_yaml::from_value(serde_yaml::Value::Mapping(merged))
            .unwrap_or_else(|e| panic!("{file}: case {}: {e}", index + 1));
        let call = call_of(&case);
        assert_eq!(
            call.instant, case.at,
            "the instant comes from data.started_at"
        );
        let contact = case.contact.as_ref().map(|fields| Contact {
            fields: fields.clone(),
        });
        let last_agent = case.last_agent.as_ref().map(agent_of);
        let availability = AvailabilityList {
            available: case.available.iter().map(|u| UserRef::parse(u)).collect(),
            unavailable: case.unavailable.iter().map(|u| UserRef::parse(u)).collect(),
        };
        let ctx = Context {
            contact: contact.as_ref(),
            last_agent: last_agent.as_ref(),
            availability: &availability,
        };
        let quiet = rules.evaluate(&call, &ctx);
        let explained = rules.explain(&call, &ctx);
        let label = format!(
            "{file}: case {} (at {}{})",
            index + 1,
            case.at.to_rfc3339(),
            case.about
                .as_deref()
                .map(|about| format!(", {about}"))
                .unwrap_or_default()
        );
        if quiet.decision != explained.decision {
            failures.push(format!(
                "{label}: evaluate and explain disagree:\n  {:?}\n  {:?}",
                quiet.decision, explained.decision
            ));
        }
        // evaluate traces the deciding rule only, explain every rule tried.
        let deciding: Vec<_> = explained
            .trace
            .iter()
            .filter(|r| r.matched)
            .map(|r| (&r.rule, r.matched))
            .collect();
        let quiet_trace: Vec<_> = quiet.trace.iter().map(|r| (&r.rule, r.matched)).collect();
        if quiet_trace != deciding || quiet.trace.iter().any(|r| !r.conditions.is_empty()) {
            failures.push(format!(
                "{label}: evaluate's trace is not the deciding rule's"
            ));
        }
        let tried = explained.trace.len();
        let expected_tried = match &explained.decision.rule {
            Some(rule) => rule.index + 1,
            None if explained.decision.ignored.is_some() => 0,
            None => rules.rule_count(),
        };
        if tried != expected_tried {
            failures.push(format!(
                "{label}: explain traced {tried} rules, not {expected_tried}"
            ));
        }
        let got = summary(&explained);
        if got != case.expect {
            failures.push(format!(
                "{label}:\n  expected: {}\n  got:      {got}\n  explain:\n    {}",
                case.expect,
                explain_lines(&explained).join("\n    ")
            ));
        }
        if let Some(expected) = &case.explain {
            let got = explain_lines(&explained);
            if &got != expected {
                failures.push(format!(
                    "{label}: explain differs\n  expected:\n    {}\n  got:\n    {}",
                    expected.join("\n    "),
                    got.join("\n    ")
                ));
            }
        }
    }
    failures
}

fn check_suite(file: &str) {
    let failures = run_suite(file);
    assert!(
        failures.is_empty(),
        "{} failing case(s):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

macro_rules! suites {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check_suite(concat!(stringify!($name), ".yaml"));
            }
        )*

        const SUITES: &[&str] = &[$(concat!(stringify!($name), ".yaml")),*];
    };
}

suites!(
    window_edges,
    overnight_and_midnight,
    holidays,
    dst_2026,
    fields,
    numbers,
    availability,
    transfers,
    annotations_and_ignored,
    zones,
);

#[test]
fn every_data_file_is_a_listed_suite() {
    let mut files: Vec<String> = std::fs::read_dir(DATA)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    files.sort();
    let mut listed: Vec<String> = SUITES.iter().map(|s| (*s).to_owned()).collect();
    listed.sort();
    assert_eq!(files, listed, "add new files to `suites!` in tests/eval.rs");
}

/// Sweeps every minute of the 2026 DST change days: a window over the
/// skipped hour never matches, one over the repeated hour matches for two
/// hours of real time.
#[test]
fn dst_changes_of_2026_minute_by_minute() {
    // (zone, spring-forward date, fall-back date, skipped hour, repeated hour)
    let changes = [
        ("Europe/Paris", (2026, 3, 29), (2026, 10, 25), 2, 2),
        ("America/New_York", (2026, 3, 8), (2026, 11, 1), 2, 1),
        ("Australia/Sydney", (2026, 10, 4), (2026, 4, 5), 2, 2),
    ];
    for (zone, spring, fall, skipped, repeated) in changes {
        let text = format!(
            "number gap = 1\nnumber repeat = 2\n\
             when number == gap and within hours(sun {skipped:02}:00-{end:02}:00) in \"{zone}\" keep\n\
             when number == repeat and within hours(sun {repeated:02}:00-{end2:02}:00) in \"{zone}\" keep\n",
            end = skipped + 1,
            end2 = repeated + 1,
        );
        let rules = compile_rules(zone, &text);
        let matched_minutes = |number: u64, (y, m, d): (i32, u32, u32)| -> i64 {
            // The local date spans from 14:00 UTC the day before (Sydney) to
            // 12:00 UTC the day after (New York): sweep 48 hours around it.
            let start =
                Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap() - chrono::Duration::hours(24);
            (0..48 * 60)
                .filter(|minute| {
                    let case = Case {
                        at: start + chrono::Duration::minutes(*minute),
                        event: call_created(),
                        direction: inbound(),
                        number: Some(number),
                        ..Case::default()
                    };
                    let outcome = rules.evaluate(&call_of(&case), &Context::empty());
                    outcome.decision.rule.is_some()
                })
                .count() as i64
        };
        assert_eq!(
            matched_minutes(1, spring),
            0,
            "{zone}: the skipped hour never matches"
        );
        assert_eq!(
            matched_minutes(2, fall),
            120,
            "{zone}: the repeated hour matches twice"
        );
        // The same windows on an ordinary Sunday: one hour each.
        assert_eq!(
            matched_minutes(1, (2026, 6, 14)),
            60,
            "{zone}: ordinary Sunday"
        );
        assert_eq!(
            matched_minutes(2, (2026, 6, 14)),
            60,
            "{zone}: ordinary Sunday"
        );
    }
}

/// Large rule sets are evaluated through an index that skips rules certain
/// to fail. It must decide exactly as trying every rule does: `explain`
/// tries every rule, so over a grid of calls the two must agree, and the
/// grid must reach rules of every shape (so the test cannot pass by never
/// matching anything).
#[test]
fn large_rule_sets_decide_as_if_every_rule_were_tried() {
    use switchboard::lang::call::{Caller, Direction};

    const SHAPES: usize = 10;
    const RULES: usize = 200;
    const LINES: usize = 4;
    let mut text = String::from(
        "timezone \"Europe/Paris\"\n\
         number paris = \"+33 1 76 36 06 95\"\n\
         hours office = mon-fri 08:00-18:00\n",
    );
    for k in 0..LINES {
        writeln!(text, "number line{k} = {}", 100 + k).unwrap();
    }
    for i in 0..RULES {
        let k = (i / SHAPES) % LINES;
        let condition = match i % SHAPES {
            0 => format!("number == line{k} and within hours office and contact.tier == \"t{i}\""),
            1 => format!("caller starts with \"+3361{k}\" and contact.tier == \"t{i}\" or contact.tier == \"u{i}\""),
            2 => format!("caller.country in [\"US\", \"CA\"] and contact.segment == \"s{i}\""),
            3 => format!("contact.segment in [\"s{i}\", \"x{i}\"] and not (last_agent exists)"),
            4 => format!("caller == \"+3361234{i:04}\""),
            5 => format!("contact.score == {i} or contact.rank in [{i}, \"r{i}\"]"),
            6 => format!("contact.vip == {} and contact.tier == \"v{i}\"", i % 20 == 6),
            // Unguarded on one side of `or`, so unguarded.
            7 => format!("contact.tier == \"n{i}\" or contact.rank exists and not (contact.rank != \"r{i}\")"),
            // Unguarded: `!=` has no guard.
            8 => format!("contact.ratio != {k} and last_agent exists"),
            _ => format!("(number == paris or caller starts with \"+44{k}\") and contact.tier == \"p{i}\""),
        };
        writeln!(
            text,
            "rule \"r{i}\" when {condition} transfer to \"+18002752273\""
        )
        .unwrap();
    }
    let rules = compile_rules("large.rules", &text);

    let contact_values = |i: usize| -> Vec<Option<Contact>> {
        let mut contacts = vec![None];
        for (j, (field, value)) in [
            ("tier", Value::Text(format!("t{i}"))),
            ("tier", Value::Text(format!("u{i}"))),
            ("segment", Value::Text(format!("s{i}"))),
            ("segment", Value::Text(format!("x{i}"))),
            ("score", Value::Int(i64::try_from(i).unwrap())),
            ("score", Value::Float(i as f64)),
            ("rank", Value::Text(format!("r{i}"))),
            ("rank", Value::Float(i as f64 + 0.5)),
            ("ratio", Value::Float(7.0)),
            ("ratio", Value::Null),
        ]
        .into_iter()
        .enumerate()
        {
            let mut contact = Contact::default();
            contact.insert(field, value);
            if field != "tier" {
                let tier = ["v", "n", "p", "t"][j % 4];
                contact.insert("tier", Value::Text(format!("{tier}{i}")));
                contact.insert("vip", Value::Bool(i % 20 == 6));
            }
            contacts.push(Some(contact));
        }
        contacts
    };
    let callers = |i: usize, k: usize| {
        [
            None,
            Some(("+33612345678".to_owned(), "FR")),
            Some((format!("+3361{k}000000"), "FR")),
            Some((format!("+3361234{i:04}"), "FR")),
            Some(("+12025550123".to_owned(), "US")),
            Some((format!("+44{k}0000000"), "GB")),
        ]
    };
    let agent = Agent {
        id: Some(7),
        email: None,
    };
    let availability = AvailabilityList::default();
    let mut decided_by = std::collections::BTreeSet::new();
    let mut calls = 0;
    for i in (0..RULES)
        .step_by(9)
        .chain([1, 3, 4, 5, 6, 8, 11, 15, 16, 17, 26])
    {
        let k = (i / SHAPES) % LINES;
        for caller in callers(i, k) {
            for (number_id, number_e164) in [
                (Some(100 + k as u64), None),
                (Some(999), Some("+33176360695".to_owned())),
                (None, None),
            ] {
                for contact in contact_values(i) {
                    calls += 1;
                    let last_agent = (calls % 2 == 0).then_some(&agent);
                    {
                        let call = switchboard::lang::Call {
                            event: "call.created".into(),
                            id: Some(1),
                            direction: Some(Direction::Inbound),
                            // Tuesday 3 March 2026, 10:30 in Paris.
                            instant: Utc.with_ymd_and_hms(2026, 3, 3, 9, 30, 0).unwrap(),
                            caller: caller.clone().map(|(e164, country)| Caller {
                                e164,
                                country: Some(country.to_owned()),
                            }),
                            number_id,
                            number_e164: number_e164.clone(),
                            number_zone: None,
                        };
                        let ctx = Context {
                            contact: contact.as_ref(),
                            last_agent,
                            availability: &availability,
                        };
                        let fast = rules.evaluate(&call, &ctx);
                        let full = rules.explain(&call, &ctx);
                        assert_eq!(
                            fast.decision, full.decision,
                            "{call:?} {ctx:?}: the index changed the decision"
                        );
                        if let Some(rule) = &full.decision.rule {
                            decided_by.insert(rule.index);
                        }
                    }
                }
            }
        }
    }
    let shapes: std::collections::BTreeSet<usize> =
        decided_by.iter().map(|index| index % SHAPES).collect();
    assert_eq!(
        shapes.len(),
        SHAPES,
        "{calls} calls reached only shapes {shapes:?}"
    );
    assert!(decided_by.len() > 25, "{calls} calls, {decided_by:?}");
}
