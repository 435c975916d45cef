//! Speed of the language core (issue 2 §5):
//!
//! - `evaluate/main.rules/*`: a decoded `call.created` against
//!   `rules/main.rules` (target: median under 1 µs);
//! - `10000 rules/parse and check`: parse + check of a generated
//!   10,000-rule file (target: under 100 ms; `10000 rules/parse` alone);
//! - `10000 rules/evaluate no match`: a call that matches none of them
//!   (target: under 50 µs).
//!
//! Run with `cargo bench --bench evaluate`; medians are in
//! `target/criterion/*/new/estimates.json`.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "benchmark set-up"
)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use switchboard::aircall::webhook::Envelope;
use switchboard::lang::call::{Agent, AvailabilityList, Call, Context, UserRef};
use switchboard::lang::parse::parse_file_in_parts;
use switchboard::lang::{
    compile, CheckOptions, Contact, FileId, RuleSet, SourceFile, Sources, Value,
};

const MAIN_RULES: &str = include_str!("../rules/main.rules");

fn options() -> CheckOptions {
    switchboard::loader::check_options(NaiveDate::from_ymd_opt(2026, 3, 1).unwrap())
}

fn rule_set(name: &str, text: &str) -> RuleSet {
    let compiled = compile(Sources::single(name, text), &options());
    compiled
        .rule_set
        .unwrap_or_else(|| panic!("{name} does not compile: {:?}", compiled.diagnostics))
}

/// A captured inbound `call.created` (Aircall reference §3.1), on the line
/// `rules/main.rules` calls `main`, decoded once as the server does.
fn call_created(number_id: u64, started_at: i64) -> Call {
    let body = format!(
        r#"{{"resource":"call","event":"call.created","timestamp":{started_at},
        "token":"58ffd2bc5f3113f7bebf210a49299a1b","data":{{"id":780836754,
        "direct_link":"https://api.aircall.io/v1/calls/780836754","direction":"inbound",
        "status":"initial","missed_call_reason":null,"started_at":{started_at},
        "answered_at":null,"ended_at":null,"duration":0,"cost":"0.0","hangup_cause":null,
        "voicemail":null,"recording":null,"asset":null,"raw_digits":"+44 330 818 6690",
        "number":{{"id":{number_id},"direct_link":"https://api.aircall.io/v1/numbers/{number_id}",
        "name":"Main line","digits":"+33 1 76 36 06 00","country":"FR",
        "time_zone":"Europe/Paris","open":true,"availability_status":"custom","is_ivr":false,
        "live_recording_activated":false}},"archived":false,"teams":[],"comments":[],"tags":[]}}}}"#
    );
    let envelope = Envelope::from_slice(body.as_bytes()).expect("a valid payload");
    let data = envelope.call_data().expect("call data");
    envelope.to_call(&data, Utc::now())
}

/// Tuesday 3 March 2026 at `hour`:`minute` in Paris (UTC+1), as UNIX seconds.
fn paris_tuesday(hour: u32, minute: u32) -> i64 {
    Utc.with_ymd_and_hms(2026, 3, 3, hour - 1, minute, 0)
        .unwrap()
        .timestamp()
}

fn bench_main_rules(c: &mut Criterion) {
    let rules = rule_set("rules/main.rules", MAIN_RULES);
    let mut contact = Contact::default();
    contact.insert("vip", Value::Bool(false));
    contact.insert("language", Value::Text("en".into()));
    let last_agent = Agent {
        id: Some(42),
        email: Some("bob@example.com".into()),
    };
    let availability = AvailabilityList {
        available: vec![UserRef::Email("alice@example.com".into())],
        unavailable: vec![UserRef::Id(7)],
    };
    let ctx = Context {
        contact: Some(&contact),
        last_agent: Some(&last_agent),
        availability: &availability,
    };
    // In office hours: five rules tried, the last agent takes the call.
    let office = call_created(1234, paris_tuesday(10, 30));
    assert_eq!(
        rules
            .evaluate(&office, &ctx)
            .decision
            .rule
            .and_then(|r| r.name)
            .as_deref(),
        Some("returning caller")
    );
    // After hours: decided by the second rule.
    let evening = call_created(1234, paris_tuesday(19, 5));
    assert_eq!(
        rules
            .evaluate(&evening, &ctx)
            .decision
            .rule
            .and_then(|r| r.name)
            .as_deref(),
        Some("after hours go to the 24/7 line")
    );

    let mut group = c.benchmark_group("evaluate/main.rules");
    group.bench_function("returning caller", |b| {
        b.iter(|| rules.evaluate(black_box(&office), black_box(&ctx)));
    });
    group.bench_function("after hours", |b| {
        b.iter(|| rules.evaluate(black_box(&evening), black_box(&ctx)));
    });
    group.bench_function("explain returning caller", |b| {
        b.iter(|| rules.explain(black_box(&office), black_box(&ctx)));
    });
    group.finish();
}

/// A 10,000-rule file in five shapes, every definition used, no two
/// conditions alike (so the checker has no warnings to make up).
fn generated_rules(count: usize) -> String {
    let mut text = String::from(
        "timezone \"Europe/Paris\"\n\n\
         hours office = mon-fri 08:00-18:00, sat 10:00-17:00 except holidays bank\n\
         holidays bank = 2026-12-25, 2026-12-24 from 14:00, 2026-08-10..2026-08-14, every 05-01\n\n",
    );
    let groups = count.div_ceil(5);
    for g in 0..groups {
        writeln!(text, "number line{g} = {}", 100_000 + g).unwrap();
        writeln!(text, "agent a{g} = \"agent{g}@example.com\"").unwrap();
        writeln!(text, "team t{g} = \"Team {g}\"").unwrap();
    }
    for i in 0..count {
        let g = i / 5;
        text.push('\n');
        writeln!(text, "rule \"generated {i}\"").unwrap();
        match i % 5 {
            0 => writeln!(
                text,
                "when number == line{g} and within hours office\ntransfer to a{g}, team t{g}"
            ),
            1 => writeln!(
                text,
                "when caller starts with \"+99{i}\" or contact.tier == \"tier{i}\"\n\
                 transfer to team t{g} ringing random"
            ),
            2 => writeln!(
                text,
                "when caller.country in [\"US\", \"CA\"] and contact.segment == \"s{i}\"\n\
                 transfer to last_agent, a{g}"
            ),
            3 => writeln!(
                text,
                "when contact.segment in [\"s{i}\", \"x{i}\"] and not (last_agent exists)\n\
                 transfer to agent, team t{g}\ntag \"generated\""
            ),
            _ => writeln!(
                text,
                "when during holidays bank and caller == \"+3491234{i:04}\"\n\
                 transfer to \"+18002752273\"\ncomment \"holiday {i}\""
            ),
        }
        .unwrap();
    }
    text
}

fn bench_large(c: &mut Criterion) {
    let text = generated_rules(10_000);
    let compiled = compile(
        Sources::single("generated.rules", text.as_str()),
        &options(),
    );
    let errors: Vec<_> = compiled
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let rules = compiled.rule_set.expect("compiles");
    assert_eq!(rules.rule_count(), 10_000);

    let mut contact = Contact::default();
    contact.insert("tier", Value::Text("gold".into()));
    contact.insert("segment", Value::Text("retail".into()));
    let last_agent = Agent {
        id: Some(42),
        email: None,
    };
    let availability = AvailabilityList::default();
    let ctx = Context {
        contact: Some(&contact),
        last_agent: Some(&last_agent),
        availability: &availability,
    };
    let mut call = call_created(1, paris_tuesday(10, 30));
    call.caller = Some(switchboard::lang::call::Caller {
        e164: "+34612345678".into(),
        country: Some("ES".into()),
    });
    let outcome = rules.evaluate(&call, &ctx);
    assert!(outcome.decision.rule.is_none(), "{:?}", outcome.decision);
    assert!(outcome.trace.is_empty());

    let mut group = c.benchmark_group("10000 rules");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    // The parse alone, to tell the two stages apart. What is produced
    // lives on (a reload keeps the rule set), so freeing it is not timed.
    let file = SourceFile::new("generated.rules", text.as_str());
    group.bench_function("parse", |b| {
        b.iter_with_large_drop(|| {
            parse_file_in_parts(black_box(&file), FileId(0), options().parse_threads)
        });
    });
    group.bench_function("parse and check", |b| {
        b.iter_with_large_drop(|| {
            compile(
                Sources::single("generated.rules", black_box(text.as_str())),
                &options(),
            )
        });
    });
    group.finish();

    // The cheapest realistic shape for comparison: a routing table of
    // lines, every rule failing on its first (integer) test.
    let lines = line_table(10_000);
    let line_rules = rule_set("lines.rules", &lines);
    assert!(line_rules.evaluate(&call, &ctx).decision.rule.is_none());

    let mut group = c.benchmark_group("10000 rules");
    group.bench_function("evaluate no match", |b| {
        b.iter(|| rules.evaluate(black_box(&call), black_box(&ctx)));
    });
    group.bench_function("evaluate no match, line table", |b| {
        b.iter(|| line_rules.evaluate(black_box(&call), black_box(&ctx)));
    });
    group.finish();
}

/// `count` rules of one shape: `when number == lineN and within hours
/// office transfer to team tN`.
fn line_table(count: usize) -> String {
    let mut text = String::from(
        "timezone \"Europe/Paris\"\nhours office = mon-fri 08:00-18:00, sat 10:00-17:00\n",
    );
    for i in 0..count {
        writeln!(
            text,
            "number line{i} = {}\nteam t{i} = {}\n\
             rule \"line {i}\" when number == line{i} and within hours office transfer to team t{i}",
            100_000 + i,
            1_000 + i
        )
        .unwrap();
    }
    text
}

criterion_group!(benches, bench_main_rules, bench_large);
criterion_main!(benches);
