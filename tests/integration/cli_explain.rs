//! `switchboard explain` run as a process, on captured Aircall payloads:
//! the JSON shape for every action kind, the human trace, `--at`,
//! `--contact`, `--last-agent`, `--available`/`--unavailable`, and errors.

#![expect(clippy::unwrap_used, reason = "tests")]

use crate::support::cli;
use cli::{event, Cmd, Rules};
use serde_json::{json, Value};

/// Each rule is gated by an input so one file covers every action kind.
/// `call_created_inbound` is call 780836754 on line 397375 (Europe/Vienna)
/// from +44 330 818 6690 (GB), on Friday 2022-03-04 at 11:28 local time.
const RULES: &str = r#"timezone "Europe/Vienna"
number main = 397375
agent alice = "alice@example.com"
team sales = "Sales"
hours office = mon-fri 08:00-18:00

rule "closed"
when number == main and outside hours office
transfer to "+442071234567"

rule "returning caller"
when last_agent exists
transfer to last_agent, team sales

rule "alice when free"
when contact.case == "available" and alice is available
transfer to alice

rule "VIP"
when contact.vip == true
transfer to alice, team sales, "+442071234567"
tag "vip"
comment "VIP caller"

rule "Spanish"
when contact.language == "es"
transfer to team "Soporte" ringing longest_idle

rule "British"
when caller.country == "GB" and contact.case == "number"
transfer to "+442071234567"

rule "leave to Aircall"
when contact.case == "keep"
keep
"#;

/// Runs `explain --format json` on `RULES` and one event, returning the
/// parsed output (exit 0 asserted).
fn explain_json(event_name: &str, extra: &[&str]) -> Value {
    let (_dir, rules) = Rules::file("main.rules", RULES);
    let output = Cmd::new()
        .arg("explain")
        .arg("--rules")
        .arg(&rules)
        .arg("--event")
        .arg(event(event_name))
        .args(["--format", "json"])
        .args(extra)
        .run();
    output.code(0);
    assert_eq!(output.stderr, "");
    output.json()
}

fn explain_human(event_name: &str, extra: &[&str]) -> String {
    let (_dir, rules) = Rules::file("main.rules", RULES);
    let output = Cmd::new()
        .arg("explain")
        .arg("--rules")
        .arg(&rules)
        .arg("--event")
        .arg(event(event_name))
        .args(extra)
        .run();
    output.code(0);
    output.stdout
}

fn rule(name: &str, line: u64) -> Value {
    json!({"name": name, "line": line})
}

#[test]
fn json_has_exactly_the_documented_keys_and_one_trace_entry_per_rule_tried() {
    let json = explain_json("call_created_inbound", &["--contact", "vip=true"]);
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in ["rule", "actions", "trace"] {
        assert!(keys.contains(&key), "missing {key}: {keys:?}");
    }
    assert_eq!(json["rule"], rule("VIP", 19));
    // "closed", "returning caller", "alice when free", then "VIP" decides.
    let trace = json["trace"].as_array().unwrap();
    let names: Vec<&str> = trace
        .iter()
        .map(|entry| entry["rule"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["closed", "returning caller", "alice when free", "VIP"]
    );
    let matched: Vec<bool> = trace
        .iter()
        .map(|entry| entry["matched"].as_bool().unwrap())
        .collect();
    assert_eq!(matched, [false, false, false, true]);
    // Each condition tried, with the values it saw.
    let closed = &trace[0]["conditions"];
    assert_eq!(closed[0]["text"], "number == main");
    assert_eq!(closed[0]["result"], true);
    assert_eq!(closed[1]["result"], false);
    assert_eq!(closed[1]["line"], 8);
    assert!(
        closed[1]["detail"]
            .as_str()
            .unwrap()
            .contains("Fri 11:28 Europe/Vienna"),
        "{closed:#}"
    );
    // The inputs as the evaluator saw them.
    assert_eq!(json["event"], "call.created");
    assert_eq!(json["instant"], "2022-03-04T10:28:59Z");
    assert_eq!(json["call"]["id"], 780_836_754_u64);
    assert_eq!(json["call"]["caller"], "+443308186690");
    assert_eq!(json["call"]["caller_country"], "GB");
    assert_eq!(json["call"]["time_zone"], "Europe/Vienna");
    assert_eq!(json["context"]["contact"], json!({"vip": true}));
    assert_eq!(json["revision"].as_str().unwrap().len(), 12);
}

#[test]
fn transfer_to_a_user_with_fallbacks_then_tag_and_comment() {
    let json = explain_json("call_created_inbound", &["--contact", "vip=true"]);
    assert_eq!(
        json["actions"],
        json!([
            {
                "type": "transfer",
                "to": {"user": "alice@example.com"},
                "fallbacks": [{"team": "Sales"}, {"number": "+442071234567"}]
            },
            {"type": "tag", "tag": "vip"},
            {"type": "comment", "text": "VIP caller"}
        ])
    );
}

#[test]
fn an_unavailable_agent_is_skipped_for_the_next_target() {
    let json = explain_json(
        "call_created_inbound",
        &[
            "--contact",
            "vip=true",
            "--unavailable",
            "Alice@Example.com",
        ],
    );
    let transfer = &json["actions"][0];
    assert_eq!(transfer["to"], json!({"team": "Sales"}));
    assert_eq!(transfer["fallbacks"], json!([{"number": "+442071234567"}]));
    let skipped = transfer["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{transfer:#}");
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("unavailable"),
        "{transfer:#}"
    );
}

#[test]
fn transfer_to_a_team_with_ringing() {
    let json = explain_json("call_created_inbound", &["--contact", "language=es"]);
    assert_eq!(json["rule"], rule("Spanish", 25));
    assert_eq!(
        json["actions"],
        json!([{"type": "transfer", "to": {"team": "Soporte", "ringing": "longest_idle"}}])
    );
}

#[test]
fn transfer_to_a_number() {
    let json = explain_json("call_created_inbound", &["--contact", "case=number"]);
    assert_eq!(json["rule"], rule("British", 29));
    assert_eq!(
        json["actions"],
        json!([{"type": "transfer", "to": {"number": "+442071234567"}}])
    );
}

#[test]
fn keep_by_a_rule_and_keep_when_nothing_matches() {
    let json = explain_json("call_created_inbound", &["--contact", "case=keep"]);
    assert_eq!(json["rule"], rule("leave to Aircall", 33));
    assert_eq!(json["actions"], json!([{"type": "keep"}]));

    let json = explain_json("call_created_inbound", &[]);
    assert_eq!(json["rule"], Value::Null);
    assert_eq!(json["actions"][0]["type"], "keep");
    assert_eq!(json["actions"].as_array().unwrap().len(), 1);
    // Every rule was tried.
    assert_eq!(json["trace"].as_array().unwrap().len(), 7);
    assert_eq!(json["context"]["contact"], Value::Null);
}

#[test]
fn events_rules_do_not_decide_are_ignored() {
    for name in [
        "call_created_outbound",
        "call_answered",
        "call_ringing_on_agent",
        "call_hungup",
        "call_ended_outbound",
        "call_unsuccessful_transfer",
        "user_opened",
        "user_created",
        "number_closed",
    ] {
        let json = explain_json(name, &["--contact", "vip=true"]);
        assert_eq!(json["rule"], Value::Null, "{name}");
        assert_eq!(json["actions"], json!([]), "{name}");
        assert_eq!(json["trace"], json!([]), "{name}");
        assert!(
            json["ignored"]
                .as_str()
                .unwrap()
                .contains("inbound call.created"),
            "{name}: {json:#}"
        );
    }
    let json = explain_json("user_opened", &[]);
    assert_eq!(json["event"], "user.opened");
    assert_eq!(json["instant"], "2022-03-04T10:28:20Z");
}

#[test]
fn at_overrides_the_instant_of_the_event() {
    // Saturday 19:00 in Vienna: outside office hours, so "closed" decides.
    let json = explain_json(
        "call_created_inbound",
        &["--at", "2022-03-05T19:00:00+01:00", "--contact", "vip=true"],
    );
    assert_eq!(json["instant"], "2022-03-05T18:00:00Z");
    assert_eq!(json["rule"], rule("closed", 7));
    assert_eq!(
        json["actions"],
        json!([{"type": "transfer", "to": {"number": "+442071234567"}}])
    );
    let detail = json["trace"][0]["conditions"][1]["detail"]
        .as_str()
        .unwrap();
    assert!(detail.contains("Sat 19:00 Europe/Vienna"), "{detail}");
}

#[test]
fn last_agent_and_availability_come_from_options() {
    let json = explain_json("call_created_inbound", &["--last-agent", "731416"]);
    assert_eq!(json["rule"], rule("returning caller", 11));
    assert_eq!(
        json["actions"],
        json!([{"type": "transfer", "to": {"user": 731_416}, "fallbacks": [{"team": "Sales"}]}])
    );
    assert_eq!(
        json["context"]["last_agent"],
        json!({"id": 731_416, "email": null})
    );

    // Without `--available`, alice's availability is unknown: no match.
    let unknown = explain_json("call_created_inbound", &["--contact", "case=available"]);
    assert_eq!(unknown["rule"], Value::Null);
    let known = explain_json(
        "call_created_inbound",
        &[
            "--contact",
            "case=available",
            "--available",
            "alice@example.com",
        ],
    );
    assert_eq!(known["rule"], rule("alice when free", 15));
    assert_eq!(
        known["actions"],
        json!([{"type": "transfer", "to": {"user": "alice@example.com"}}])
    );
    assert_eq!(
        known["context"]["available"],
        json!([{"email": "alice@example.com"}])
    );
}

#[test]
fn the_time_zone_of_the_called_number_applies_without_a_file_timezone() {
    // The issue's own example: Saturday 19:05 in Paris, outside hours.
    let (_dir, rules) = Rules::file(
        "main.rules",
        "hours office = mon-fri 08:00-18:00, sat-sun 10:00-17:00\n\
         rule \"after hours\"\n\
         when outside hours office and caller.country == \"ES\"\n\
         transfer to team \"Soporte\"\n",
    );
    let output = Cmd::new()
        .arg("explain")
        .arg("--rules")
        .arg(&rules)
        .arg("--event")
        .arg(event("call_created_paris"))
        .run();
    output.code(0);
    let expected_start = "decision: transfer to team \"Soporte\" (rule \"after hours\", line 2)\n";
    assert!(
        output.stdout.starts_with(expected_start),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains(
            "[pass] outside hours office: true (Sat 19:05 Europe/Paris; Saturday's window is 10:00-17:00)"
        ),
        "{}",
        output.stdout
    );
    assert!(
        output
            .stdout
            .contains("[pass] caller.country == \"ES\": true"),
        "{}",
        output.stdout
    );
}

#[test]
fn human_output_gives_the_decision_first_then_the_trace_with_source_lines() {
    let stdout = explain_human("call_created_inbound", &["--contact", "vip=true"]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[..4],
        [
            "decision: transfer to agent alice@example.com (rule \"VIP\", line 19)",
            "  fallbacks: team \"Sales\", +442071234567",
            "  tag: \"vip\"",
            "  comment: \"VIP caller\"",
        ]
    );
    assert!(
        stdout.contains(
            "event: call.created, call 780836754, inbound, from +443308186690 (GB), \
             to +43720880079 (number 397375), at 2022-03-04T10:28:59Z\n"
        ),
        "{stdout}"
    );
    // Each rule tried, in order, with its conditions under their source line.
    let trace = &stdout[stdout.find("rules tried:\n").unwrap()..];
    let expected_closed = "\
1. rule \"closed\" at ";
    assert!(trace.contains(expected_closed), "{trace}");
    assert!(
        trace.contains(
            ":7: no match\n    8 | when number == main and outside hours office\n        [pass] number == main: true ("
        ),
        "{trace}"
    );
    assert!(
        trace.contains("        [fail] outside hours office: false (Fri 11:28 Europe/Vienna"),
        "{trace}"
    );
    assert!(
        trace.contains(":19: matched\n   20 | when contact.vip == true\n        [pass] contact.vip == true: true ("),
        "{trace}"
    );
    assert!(!trace.contains("rule \"Spanish\""), "{trace}");
}

#[test]
fn human_output_for_keep_and_ignored() {
    let stdout = explain_human("call_created_inbound", &[]);
    assert!(
        stdout.starts_with("decision: keep (no rule matched)\n"),
        "{stdout}"
    );
    let stdout = explain_human("call_created_inbound", &["--contact", "case=keep"]);
    assert!(
        stdout.starts_with("decision: keep (rule \"leave to Aircall\", line 33)\n"),
        "{stdout}"
    );
    let stdout = explain_human("call_created_outbound", &[]);
    assert!(
        stdout.starts_with(
            "decision: ignored (only inbound call.created events are decided by rules)\n"
        ),
        "{stdout}"
    );
    assert!(stdout.ends_with("no rule was tried\n"), "{stdout}");
}

#[test]
fn a_directory_rule_set_names_the_file_of_each_rule() {
    let rules = Rules::new();
    rules.write("a.rules", "agent alice = \"alice@example.com\"\n");
    rules.write(
        "b.rules",
        "# VIPs first\nrule \"VIP\"\nwhen contact.vip == true\ntransfer to alice\n",
    );
    let output = Cmd::new()
        .arg("explain")
        .arg("--rules")
        .arg(rules.path())
        .arg("--event")
        .arg(event("call_created_inbound"))
        .args(["--contact", "vip=true"])
        .run();
    output.code(0);
    let b = rules.path().join("b.rules");
    assert!(
        output.stdout.starts_with(&format!(
            "decision: transfer to agent alice@example.com (rule \"VIP\", {}:2)\n",
            b.display()
        )),
        "{}",
        output.stdout
    );
}

#[test]
fn the_event_can_come_from_stdin() {
    let (_dir, rules) = Rules::file("main.rules", RULES);
    let body = std::fs::read(event("call_created_inbound")).unwrap();
    let output = Cmd::new()
        .arg("explain")
        .arg("--rules")
        .arg(&rules)
        .args(["--event", "-", "--format", "json", "--contact", "case=keep"])
        .stdin(body)
        .run();
    output.code(0);
    assert_eq!(output.json()["rule"], rule("leave to Aircall", 33));
}

#[test]
fn invalid_rules_exit_1_with_rendered_diagnostics_on_stderr() {
    let (_dir, rules) = Rules::file("main.rules", "when within hours ofice keep\n");
    let output = Cmd::new()
        .arg("explain")
        .arg("--rules")
        .arg(&rules)
        .arg("--event")
        .arg(event("call_created_inbound"))
        .run();
    output.code(1);
    assert_eq!(output.stdout, "");
    assert!(
        output
            .stderr
            .starts_with("error[unknown-name]: unknown hours `ofice`\n"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.ends_with(&format!(
            "error: {}: the rules are invalid (1 error); nothing to explain\n",
            rules.display()
        )),
        "{}",
        output.stderr
    );
}

#[test]
fn bad_events_and_inputs_exit_2_naming_the_problem() {
    let (dir, rules) = Rules::file("main.rules", RULES);
    let run = |event_path: &std::path::Path, extra: &[&str]| {
        Cmd::new()
            .arg("explain")
            .arg("--rules")
            .arg(&rules)
            .arg("--event")
            .arg(event_path)
            .args(extra)
            .run()
    };

    let missing = dir.path().join("missing.json");
    let output = run(&missing, &[]);
    output.code(2);
    assert!(
        output.stderr.starts_with(&format!(
            "error: {}: cannot read the event",
            missing.display()
        )),
        "{}",
        output.stderr
    );

    let not_json = dir.path().join("not.json");
    std::fs::write(&not_json, "{\"event\": ").unwrap();
    let output = run(&not_json, &[]);
    output.code(2);
    assert!(
        output.stderr.contains("not valid JSON"),
        "{}",
        output.stderr
    );

    let wrong_type = dir.path().join("wrong.json");
    std::fs::write(
        &wrong_type,
        r#"{"resource":"call","event":"call.created","timestamp":1646389739,"token":"t",
            "data":{"id":"780836754","direction":"inbound"}}"#,
    )
    .unwrap();
    let output = run(&wrong_type, &[]);
    output.code(2);
    assert!(output.stderr.contains("data.id"), "{}", output.stderr);

    let inbound = event("call_created_inbound");
    run(&inbound, &["--at", "yesterday"]).code(2);
    run(&inbound, &["--contact", "vip"]).code(2);
    run(&inbound, &["--format", "xml"]).code(2);
    Cmd::new()
        .arg("explain")
        .arg("--event")
        .arg(&inbound)
        .run()
        .code(2);

    let output = Cmd::new()
        .arg("explain")
        .arg("--rules")
        .arg(dir.path().join("nope.rules"))
        .arg("--event")
        .arg(&inbound)
        .run();
    output.code(2);
    assert!(output.stderr.contains("nope.rules"), "{}", output.stderr);
}
