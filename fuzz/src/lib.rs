//! What the fuzz targets check, shared by the three of them.
//!
//! Each function panics (which libFuzzer reports as a crash) when an
//! invariant of the language or the webhook decoder does not hold; any
//! other outcome, including a rules file full of errors, is fine.

use chrono::{NaiveDate, TimeZone, Utc};
use switchboard::aircall::webhook::Envelope;
use switchboard::lang::call::{Agent, AvailabilityList, Call, Context, UserRef};
use switchboard::lang::format::format_source;
use switchboard::lang::{compile, CheckOptions, Contact, Outcome, RuleSet, SourceFile, Sources, Value};

fn options() -> CheckOptions {
    CheckOptions::new(NaiveDate::from_ymd_opt(2026, 3, 1).unwrap_or_default())
}

/// A few calls that exercise different paths of a rule set: in and out
/// of office hours, a known and an unknown caller, a contact with fields.
fn calls() -> Vec<Call> {
    [
        (1234, "+33612345678", 2026, 3, 3, 9),
        (1234, "+18001234567", 2026, 12, 25, 20),
        (99, "anonymous", 2026, 3, 29, 1),
    ]
    .into_iter()
    .filter_map(|(number, caller, y, m, d, h)| {
        let started_at = Utc.with_ymd_and_hms(y, m, d, h, 30, 0).single()?.timestamp();
        let body = format!(
            r#"{{"resource":"call","event":"call.created","timestamp":{started_at},
            "data":{{"id":780836754,"direction":"inbound","status":"initial",
            "started_at":{started_at},"raw_digits":"{caller}",
            "number":{{"id":{number},"digits":"+33 1 76 36 06 00","country":"FR",
            "time_zone":"Europe/Paris","is_ivr":false}},"teams":[],"tags":[]}}}}"#
        );
        let envelope = Envelope::from_slice(body.as_bytes()).ok()?;
        let data = envelope.call_data().ok()?;
        Some(envelope.to_call(&data, Utc::now()))
    })
    .collect()
}

fn with_contexts(each: &mut dyn FnMut(&Context<'_>)) {
    let mut contact = Contact::default();
    contact.insert("vip", Value::Bool(true));
    contact.insert("language", Value::Text("es".into()));
    contact.insert("agent", Value::Text("alice@example.com".into()));
    let last_agent = Agent {
        id: Some(42),
        email: Some("bob@example.com".into()),
    };
    let availability = AvailabilityList {
        available: vec![UserRef::Email("alice@example.com".into())],
        unavailable: vec![UserRef::Id(42)],
    };
    each(&Context::empty());
    each(&Context {
        contact: Some(&contact),
        last_agent: Some(&last_agent),
        availability: &availability,
    });
}

/// What a decision is, without where its rule is written (formatting
/// moves rules to other lines).
fn meaning(outcome: &Outcome) -> String {
    let decision = &outcome.decision;
    format!(
        "{:?} {:?} {:?} {:?}",
        decision.rule.as_ref().map(|rule| rule.index),
        decision.rule.as_ref().map(|rule| rule.name.clone()),
        decision.actions,
        decision.ignored
    )
}

fn decisions(rule_set: &RuleSet) -> Vec<String> {
    let mut all = Vec::new();
    for call in calls() {
        with_contexts(&mut |ctx| {
            let decided = rule_set.evaluate(&call, ctx);
            let explained = rule_set.explain(&call, ctx);
            // One evaluation path: explain decides exactly as evaluate.
            assert_eq!(decided.decision, explained.decision);
            all.push(meaning(&decided));
        });
    }
    all
}

/// Rules text → parse, check, evaluate, explain: never a panic; a valid
/// set decides every call, and `explain` agrees with `evaluate`.
pub fn rules(text: &str) {
    let compiled = compile(Sources::single("fuzz.rules", text), &options());
    let rendered = switchboard::lang::render::render(&compiled.diagnostics, &compiled.sources, false);
    assert_eq!(rendered.is_empty(), compiled.diagnostics.is_empty());
    if let Some(rule_set) = &compiled.rule_set {
        decisions(rule_set);
    }
}

/// Rules text → fmt: formatting is idempotent, and a formatted valid set
/// is still valid and decides every call as the original does.
pub fn fmt(text: &str) {
    let file = SourceFile::new("fuzz.rules", text);
    let Ok(formatted) = format_source(&file) else {
        return;
    };
    let again = format_source(&SourceFile::new("fuzz.rules", formatted.as_str()))
        .unwrap_or_else(|errors| panic!("formatted text does not parse: {errors:?}\n{formatted}"));
    assert_eq!(again, formatted, "fmt is not idempotent");
    let original = compile(Sources::single("fuzz.rules", text), &options());
    let reformatted = compile(Sources::single("fuzz.rules", formatted.as_str()), &options());
    assert_eq!(
        original.rule_set.is_some(),
        reformatted.rule_set.is_some(),
        "formatting changed validity:\n{formatted}"
    );
    if let (Some(before), Some(after)) = (&original.rule_set, &reformatted.rule_set) {
        assert_eq!(decisions(before), decisions(after), "formatting changed a decision");
    }
}

/// A webhook body → decode → the call the rules see → a decision with the
/// shipped example rules. Never a panic.
pub fn webhook(body: &[u8]) {
    let Ok(envelope) = Envelope::from_slice(body) else {
        return;
    };
    let _ = envelope.family();
    if let Ok(data) = envelope.call_data() {
        let call = envelope.to_call(&data, Utc::now());
        if let Some(rule_set) = example_rules() {
            with_contexts(&mut |ctx| {
                let decided = rule_set.evaluate(&call, ctx);
                assert_eq!(decided.decision, rule_set.explain(&call, ctx).decision);
            });
        }
    }
    let _ = envelope.user_data();
}

fn example_rules() -> Option<&'static RuleSet> {
    static RULES: std::sync::OnceLock<Option<RuleSet>> = std::sync::OnceLock::new();
    RULES
        .get_or_init(|| {
            let text = include_str!("../../rules/main.rules");
            compile(Sources::single("main.rules", text), &options()).rule_set
        })
        .as_ref()
}
