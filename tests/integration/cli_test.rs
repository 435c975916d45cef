//! `switchboard test` run as a process: the example rules' own suite,
//! snapshots of passing, failing and malformed suites (human and JSON),
//! finding suites, `--rules`, `--deny-uncovered`, payload files, and a
//! 1,000-case suite.

#![expect(clippy::unwrap_used, reason = "tests")]

use crate::support::cli;
use std::fmt::Write as _;
use std::path::Path;

use cli::{Cmd, Output, Rules};

const SUITES: &str = "tests/data/test-suites";

/// Runs `switchboard` from the repository root, so paths in the output are
/// the relative ones a user types.
fn switchboard(args: &[&str]) -> Output {
    Cmd::new()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .run()
}

/// Exit code, stdout and stderr in one text, for snapshots.
fn transcript(output: &Output) -> String {
    format!(
        "exit: {:?}\n--- stdout\n{}--- stderr\n{}",
        output.code, output.stdout, output.stderr
    )
}

#[test]
fn the_example_rules_pass_their_suite_and_every_rule_is_covered() {
    let output = switchboard(&["test", "rules/"]);
    output.code(0);
    assert!(
        output
            .stdout
            .contains("coverage: every rule (7) decided at least one case"),
        "{}",
        output.stdout
    );
    assert!(!output.stdout.contains("FAIL"), "{}", output.stdout);
    // The default path is `rules`, and `--deny-uncovered` holds for it.
    switchboard(&["test", "--deny-uncovered"]).code(0);
}

#[test]
fn a_passing_suite() {
    let output = switchboard(&["test", &format!("{SUITES}/passing")]);
    output.code(0);
    insta::assert_snapshot!(transcript(&output));
}

#[test]
fn a_failing_suite_shows_expected_actual_and_both_traces() {
    let output = switchboard(&["test", &format!("{SUITES}/failing/office.test.yaml")]);
    output.code(1);
    insta::assert_snapshot!(transcript(&output));
}

#[test]
fn a_failing_suite_as_json() {
    let output = switchboard(&[
        "test",
        "--format",
        "json",
        &format!("{SUITES}/failing/office.rules"),
    ]);
    output.code(1);
    let json = output.json();
    assert_eq!(json["ok"], false);
    assert_eq!(json["passed"], 1);
    assert_eq!(json["failed"], 8);
    let case = &json["suites"][0]["cases"][1];
    assert_eq!(case["passed"], false);
    assert_eq!(case["decision"]["rule"]["name"], "vip");
    assert_eq!(case["deciding_rule"]["matched"], true);
    assert_eq!(case["expected_rules"][0]["reached"], true);
    assert_eq!(case["expected_rules"][0]["trace"]["rule"]["name"], "closed");
    assert_eq!(
        json["suites"][0]["coverage"]["not_reached"][0]["line"], 23,
        "{json:#}"
    );
    insta::assert_snapshot!(output.stdout);
}

#[test]
fn problems_in_test_files_are_all_reported_and_exit_2() {
    let output = switchboard(&["test", &format!("{SUITES}/invalid")]);
    output.code(2);
    insta::assert_snapshot!(transcript(&output));
}

#[test]
fn invalid_rules_are_rendered_and_exit_1() {
    let output = switchboard(&["test", &format!("{SUITES}/broken-rules")]);
    output.code(1);
    assert!(
        output
            .stderr
            .contains("error[unknown-name]: unknown hours `ofice`"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("no case was run"),
        "{}",
        output.stderr
    );
    let output = switchboard(&[
        "test",
        "--format",
        "json",
        &format!("{SUITES}/broken-rules"),
    ]);
    output.code(1);
    let json = output.json();
    assert_eq!(
        json["suites"][0]["diagnostics"][0]["diagnostics"][1]["code"], "unknown-name",
        "{json:#}"
    );
}

#[test]
fn suites_are_found_beside_rules_files_and_in_directories() {
    let rules = Rules::new();
    rules.write("a.rules", "when always keep\n");
    rules.write(
        "a.test.yaml",
        "cases:\n  - name: kept\n    at: 2026-03-02T10:00Z\n    expect: keep\n",
    );
    rules.write("b.rules", "when always keep\n");
    let dir = rules.path().to_str().unwrap();

    // A directory: its suites, and a note for the rules file nobody tests.
    let output = Cmd::new().args(["test", dir]).run();
    output.code(0);
    assert!(
        output.stdout.contains("a.test.yaml: 1 case against"),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains(&format!(
            "note: {} has no test file",
            rules.path().join("b.rules").display()
        )),
        "{}",
        output.stdout
    );
    // A rules file: the test file beside it.
    let a = rules.path().join("a.rules");
    Cmd::new().arg("test").arg(&a).run().code(0);
    // A rules file without one.
    let b = rules.path().join("b.rules");
    let output = Cmd::new().arg("test").arg(&b).run();
    output.code(2);
    assert!(
        output.stderr.contains("no test file beside it (expected"),
        "{}",
        output.stderr
    );
    // Nothing there at all.
    let output = Cmd::new().args(["test", "/nonexistent/rules"]).run();
    output.code(2);
    assert!(
        output.stderr.contains("no such file or directory"),
        "{}",
        output.stderr
    );
    // A directory without suites.
    let empty = Rules::new();
    empty.write("x.rules", "when always keep\n");
    let output = Cmd::new().arg("test").arg(empty.path()).run();
    output.code(2);
    assert!(
        output.stderr.contains("no test file (`*.test.yaml`)"),
        "{}",
        output.stderr
    );
}

#[test]
fn a_candidate_rules_file_can_be_tried_against_the_existing_tests() {
    // "We close at 19:00 now": the suite says 18:00 is closed, so the
    // change breaks the cases that pin the old closing time.
    let main =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/main.rules"))
            .unwrap();
    let candidate = main.replace("mon-fri 08:00-18:00", "mon-fri 08:00-19:00");
    assert_ne!(main, candidate);
    let (_dir, path) = Rules::file("candidate.rules", &candidate);
    let output = switchboard(&[
        "test",
        "rules/main.test.yaml",
        "--rules",
        path.to_str().unwrap(),
    ]);
    output.code(1);
    assert!(
        output
            .stdout
            .contains("FAIL  the office closes at 18:00 (the end is exclusive)"),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains("no rule: keep (no rule matched)"),
        "{}",
        output.stdout
    );
}

#[test]
fn deny_uncovered_fails_when_a_rule_decided_no_case() {
    let rules = Rules::new();
    rules.write(
        "main.rules",
        "rule \"spain\"\nwhen caller.country == \"ES\"\ntransfer to \"+34911234567\"\n\nrule \"rest\"\nwhen always\nkeep\n",
    );
    let suite = rules.write(
        "main.test.yaml",
        "cases:\n  - name: french caller\n    at: 2026-03-02T10:00Z\n    call: { caller: \"+33612345678\" }\n    expect: { rule: rest }\n",
    );
    let output = Cmd::new().arg("test").arg(&suite).run();
    output.code(0);
    assert!(
        output.stdout.contains(
            "coverage: 1 of 2 rules decided a case; no case reached:\n    rule \"spain\" (line 1)"
        ),
        "{}",
        output.stdout
    );
    Cmd::new()
        .arg("test")
        .arg(&suite)
        .arg("--deny-uncovered")
        .run()
        .code(1);
}

#[test]
fn payload_files_are_decoded_like_webhooks_and_fields_override_them() {
    let rules = Rules::new();
    rules.write(
        "main.rules",
        "number product = 397375\n\
         rule \"austria\"\nwhen number == product and caller.country == \"GB\"\ntransfer to \"+43720880079\"\n",
    );
    let event = cli::event("call_created_inbound");
    let suite = format!(
        "cases:\n\
         \x20 - name: the captured call, at its own time\n\
         \x20   call: {event}\n\
         \x20   expect: {{ rule: austria, target: \"+43 720 880079\" }}\n\
         \x20 - name: the same call from Spain\n\
         \x20   call: {{ payload: {event}, caller: \"+34 612 345 678\" }}\n\
         \x20   expect: {{ rule: null }}\n",
        event = event.display()
    );
    let path = rules.write("main.test.yaml", &suite);
    let output = Cmd::new().arg("test").arg(&path).run();
    output.code(0);
    assert!(
        output.stdout.contains("2 passed, 0 failed"),
        "{}",
        output.stdout
    );
}

#[test]
fn a_thousand_cases_run_and_pass() {
    let rules = Rules::new();
    let main =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/main.rules"))
            .unwrap();
    rules.write("main.rules", &main);
    let mut suite = String::from(
        "zone: Europe/Paris\ncall: { number: 1234, caller: \"+33 6 12 34 56 78\" }\ncases:\n",
    );
    for i in 0..1000 {
        // Alternate between after hours and open hours, minute by minute.
        let (hour, expect) = if i % 2 == 0 {
            (19, "{ rule: after hours go to the 24/7 line }")
        } else {
            (10, "{ rule: null }")
        };
        writeln!(
            suite,
            "  - name: case {i}\n    at: 2026-03-02T{hour}:{:02}\n    expect: {expect}",
            i % 60
        )
        .unwrap();
    }
    let path = rules.write("main.test.yaml", &suite);
    let output = Cmd::new().arg("test").arg(&path).run();
    output.code(0);
    assert!(
        output.stdout.contains("1000 passed, 0 failed"),
        "{}",
        output.stdout
    );
}

#[test]
fn help_documents_the_exit_codes() {
    let output = switchboard(&["test", "--help"]);
    output.code(0);
    assert!(
        output.stdout.contains("1  a case failed"),
        "{}",
        output.stdout
    );
}

#[test]
fn calendar_and_suites_read_a_definition_in_the_zone_of_its_file() {
    // Two files, two zones: `office` and the rule that reads it are in
    // New York, but the first file (by name) says London. The calendar
    // shows `office` in New York; a case expecting the New York rule must
    // read its `at:` on the same clock, not the first file's.
    let rules = Rules::new();
    rules.write(
        "a.rules",
        "timezone \"Europe/London\"\n\
         number london = 1\n\
         hours desk = mon-fri 09:00-17:00\n\
         rule \"london open\" when number == london and within hours desk keep\n",
    );
    rules.write(
        "b.rules",
        "timezone \"America/New_York\"\n\
         number new_york = 2\n\
         hours office = mon-fri 09:00-17:00\n\
         rule \"new york open\" when number == new_york and within hours office keep\n",
    );
    rules.write(
        "b.test.yaml",
        "rules: .\n\
         call: { caller: \"+33 6 12 34 56 78\" }\n\
         cases:\n\
         \x20 - name: half past nine in New York is office hours\n\
         \x20   at: 2026-03-03T09:30\n\
         \x20   call: { number: 2 }\n\
         \x20   expect: { rule: new york open }\n\
         \x20 - name: half past nine in London is desk hours\n\
         \x20   at: 2026-03-03T09:30\n\
         \x20   call: { number: 1 }\n\
         \x20   expect: { rule: london open }\n",
    );

    let calendar = Cmd::new()
        .args(["calendar", "--hours", "office", "--rules"])
        .arg(rules.path())
        .args(["--from", "2026-03-03", "--to", "2026-03-03"])
        .run();
    calendar.code(0);
    assert!(
        calendar
            .stdout
            .contains("wall-clock times in America/New_York"),
        "{}",
        calendar.stdout
    );
    assert!(
        calendar.stdout.contains("Tue 03 Mar 09:00-17:00"),
        "{}",
        calendar.stdout
    );

    let test = Cmd::new()
        .arg("test")
        .arg(rules.path().join("b.test.yaml"))
        .run();
    assert!(
        test.stdout.contains("2 passed, 0 failed"),
        "{}",
        test.stdout
    );
    test.code(0);
}
