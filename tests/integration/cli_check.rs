//! `switchboard check` run as a process: exit codes, human and JSON output,
//! `--deny-warnings`, directories, several paths, `--config`, colour.

#![expect(clippy::unwrap_used, reason = "tests")]

use crate::support::cli;
use cli::{Cmd, Rules};

const VALID: &str = "\
timezone \"Europe/Paris\"
number main = 397375
hours office = mon-fri 08:00-18:00

rule \"after hours\"
when number == main and outside hours office
transfer to \"+442071234567\"
";

/// One known error: a misspelt hours name (and nothing else wrong).
const TYPO: &str = "\
hours office = mon-fri 08:00-18:00

when outside hours ofice transfer to \"+442071234567\"
when within hours office keep
";

/// Valid, with one warning: `bob` is never used.
const UNUSED: &str = "\
agent bob = \"bob@example.com\"
when always keep
";

#[test]
fn a_valid_file_exits_0_and_says_ok() {
    let (_dir, path) = Rules::file("main.rules", VALID);
    let output = Cmd::new().arg("check").arg(&path).run();
    output.code(0);
    assert_eq!(output.stdout, format!("{}: ok (1 rule)\n", path.display()));
    assert_eq!(output.stderr, "");
}

#[test]
fn an_error_is_rendered_rustc_style_and_exits_1() {
    let (dir, _) = Rules::file("main.rules", TYPO);
    // Run from the directory so the path in the output is the relative one
    // the user typed.
    let output = Cmd::new()
        .current_dir(dir.path())
        .args(["check", "main.rules"])
        .run();
    output.code(1);
    let expected = "\
error[unknown-name]: unknown hours `ofice`
 --> main.rules:3:20
  |
3 | when outside hours ofice transfer to \"+442071234567\"
  |                    ^^^^^
  = help: did you mean `office`?

main.rules: 1 error
";
    assert_eq!(output.stdout, expected);
    assert_eq!(output.stderr, "");
}

#[test]
fn every_error_of_every_file_is_reported_with_tabs_and_non_ascii_lined_up() {
    let rules = Rules::new();
    rules.write(
        "a.rules",
        "rule \"café\" when caller.country == \"ÉS\" transfer to \"12\"\n",
    );
    rules.write("b.rules", "rule \"x\"\n\twhen within hours nope keep\n");
    let output = Cmd::new().arg("check").arg(rules.path()).run();
    output.code(1);
    // Two files, three errors, all reported in one run.
    assert!(
        output
            .stdout
            .ends_with(&format!("{}: 3 errors\n", rules.path().display())),
        "{}",
        output.stdout
    );
    // Non-ASCII before the span: the header counts characters (`"12"` is
    // character 53, byte 55) and the carets sit under the text.
    let a = rules.path().join("a.rules");
    assert!(
        output.stdout.contains(&format!(
            " --> {}:1:53\n  |\n1 | rule \"café\" when caller.country == \"ÉS\" transfer to \"12\"\n  |{}^^^^\n",
            a.display(),
            " ".repeat(53)
        )),
        "{}",
        output.stdout
    );
    // A tab before the span: `nope` is character 20 (the tab counts as
    // one) but the carets are padded to the tab-expanded position.
    let b = rules.path().join("b.rules");
    assert!(
        output.stdout.contains(&format!(
            " --> {}:2:20\n  |\n2 |     when within hours nope keep\n  |                       ^^^^\n",
            b.display()
        )),
        "{}",
        output.stdout
    );

    let json = Cmd::new()
        .args(["check", "--format", "json"])
        .arg(rules.path())
        .run()
        .json();
    let files = json["files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{json:#}");
    // The second diagnostic of a.rules is the phone number.
    assert_eq!(files[0]["diagnostics"][1]["column"], 53, "{json:#}");
    assert_eq!(files[0]["diagnostics"][1]["end_column"], 57, "{json:#}");
    assert_eq!(files[1]["diagnostics"][0]["column"], 20, "{json:#}");
    assert_eq!(json["errors"], 3);
}

#[test]
fn json_output_has_the_documented_shape() {
    let (dir, _) = Rules::file("main.rules", TYPO);
    let output = Cmd::new()
        .current_dir(dir.path())
        .args(["check", "--format", "json", "main.rules"])
        .run();
    output.code(1);
    let json = output.json();
    assert_eq!(
        json["files"],
        serde_json::json!([{
            "path": "main.rules",
            "diagnostics": [{
                "severity": "error",
                "code": "unknown-name",
                "message": "unknown hours `ofice`",
                "line": 3,
                "column": 20,
                "end_line": 3,
                "end_column": 25,
                "help": "did you mean `office`?",
                "notes": []
            }]
        }])
    );
    assert_eq!(json["errors"], 1);
    assert_eq!(json["warnings"], 0);
    assert_eq!(json["ok"], false);
    assert_eq!(json["rule_sets"][0]["ok"], false);
    assert_eq!(json["rule_sets"][0]["revision"], serde_json::Value::Null);
}

#[test]
fn json_of_a_valid_set_carries_its_revision() {
    let (_dir, path) = Rules::file("main.rules", VALID);
    let output = Cmd::new()
        .args(["check", "--format", "json"])
        .arg(&path)
        .run();
    output.code(0);
    let json = output.json();
    assert_eq!(json["ok"], true);
    assert_eq!(json["files"][0]["diagnostics"], serde_json::json!([]));
    let set = &json["rule_sets"][0];
    assert_eq!(set["rules"], 1);
    assert_eq!(set["revision"].as_str().unwrap().len(), 12);
}

#[test]
fn warnings_pass_unless_denied() {
    let (_dir, path) = Rules::file("main.rules", UNUSED);
    let allowed = Cmd::new().arg("check").arg(&path).run();
    allowed.code(0);
    assert!(allowed.stdout.starts_with("warning["), "{}", allowed.stdout);
    assert!(
        allowed
            .stdout
            .ends_with(&format!("{}: ok (1 rule), 1 warning\n", path.display())),
        "{}",
        allowed.stdout
    );

    let denied = Cmd::new()
        .args(["check", "--deny-warnings"])
        .arg(&path)
        .run();
    denied.code(1);
    assert!(
        denied.stdout.ends_with(&format!(
            "{}: 1 warning denied by --deny-warnings\n",
            path.display()
        )),
        "{}",
        denied.stdout
    );
    let json = Cmd::new()
        .args(["check", "--deny-warnings", "--format", "json"])
        .arg(&path)
        .run();
    json.code(1);
    let json = json.json();
    assert_eq!(json["ok"], false);
    assert_eq!(json["files"][0]["diagnostics"][0]["severity"], "warning");
}

#[test]
fn a_directory_is_one_rule_set_across_files() {
    let rules = Rules::new();
    // A definition in one file is used in another; files load by name.
    rules.write("10-defs.rules", "hours office = mon-fri 08:00-18:00\n");
    rules.write(
        "20-rules.rules",
        "when outside hours office transfer to \"+442071234567\"\nwhen always keep\n",
    );
    rules.write("README.md", "not rules");
    let output = Cmd::new().arg("check").arg(rules.path()).run();
    output.code(0);
    assert_eq!(
        output.stdout,
        format!("{}: ok (2 rules in 2 files)\n", rules.path().display())
    );
}

#[test]
fn each_path_is_its_own_rule_set() {
    let good = Rules::new();
    let good_path = good.write("good.rules", VALID);
    let bad = Rules::new();
    let bad_path = bad.write("bad.rules", TYPO);
    let output = Cmd::new().arg("check").arg(&good_path).arg(&bad_path).run();
    output.code(1);
    assert!(
        output.stdout.starts_with(&format!(
            "{}: ok (1 rule)\n\nerror[unknown-name]",
            good_path.display()
        )),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.ends_with(&format!(
            "{}: 1 error\n\nchecked 2 rule sets, 1 not ok: 1 error\n",
            bad_path.display()
        )),
        "{}",
        output.stdout
    );
}

#[test]
fn io_and_usage_problems_exit_2() {
    let rules = Rules::new();
    let missing = rules.path().join("missing.rules");

    let output = Cmd::new().arg("check").arg(&missing).run();
    output.code(2);
    assert_eq!(
        output.stderr,
        format!("error: {}: no such file or directory\n", missing.display())
    );

    // An empty directory is not an empty rule set: it is the wrong path.
    let output = Cmd::new().arg("check").arg(rules.path()).run();
    output.code(2);
    assert!(
        output.stderr.contains("no `*.rules` file"),
        "{}",
        output.stderr
    );

    // I/O failure wins over invalid rules when both happen.
    let bad = rules.write("bad.rules", TYPO);
    let output = Cmd::new().arg("check").arg(&bad).arg(&missing).run();
    output.code(2);
    assert!(
        output.stdout.contains("error[unknown-name]"),
        "{}",
        output.stdout
    );

    let output = Cmd::new()
        .arg("check")
        .arg(&missing)
        .args(["--format", "json"])
        .run();
    output.code(2);
    assert!(output.json()["files"][0]["error"]
        .as_str()
        .unwrap()
        .contains("no such file"));

    Cmd::new().arg("check").run().code(2);
    Cmd::new()
        .args(["check", "--format", "yaml", "x.rules"])
        .run()
        .code(2);
    Cmd::new()
        .args(["check", "--no-such-flag", "x.rules"])
        .run()
        .code(2);
    Cmd::new().arg("no-such-command").run().code(2);
}

#[test]
fn help_documents_the_exit_codes() {
    for args in [
        vec!["--help"],
        vec!["check", "--help"],
        vec!["explain", "--help"],
    ] {
        let output = Cmd::new().args(args).run();
        output.code(0);
        assert!(output.stdout.contains("Exit status:"), "{}", output.stdout);
        assert!(
            output.stdout.contains("1  the rules are invalid"),
            "{}",
            output.stdout
        );
        assert!(
            output.stdout.contains("2  the command could not run"),
            "{}",
            output.stdout
        );
    }
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let (_dir, path) = Rules::file("main.rules", TYPO);
    // stdout is a pipe here, so `auto` means no colour.
    let plain = Cmd::new().arg("check").arg(&path).run();
    assert!(!plain.stdout.contains('\x1b'), "{:?}", plain.stdout);
    let coloured = Cmd::new()
        .args(["check", "--color", "always"])
        .arg(&path)
        .run();
    coloured.code(1);
    assert!(
        coloured
            .stdout
            .contains("\x1b[1;31merror[unknown-name]\x1b[0m"),
        "{:?}",
        coloured.stdout
    );
    let never = Cmd::new()
        .args(["check", "--color", "never"])
        .arg(&path)
        .env("NO_COLOR", "")
        .run();
    assert_eq!(never.stdout, plain.stdout);
}

#[test]
fn config_checks_the_config_and_the_rules_it_points_to() {
    let rules = Rules::new();
    rules.write("rules/main.rules", TYPO);
    let config = rules.write("switchboard.yaml", "rules: rules/main.rules\n");
    // PATH may be left out with --config; the rules path is relative to
    // the config file, not to the working directory.
    let output = Cmd::new().arg("check").arg("--config").arg(&config).run();
    output.code(1);
    assert!(
        output
            .stdout
            .starts_with(&format!("{}: ok (dry-run mode)\n", config.display())),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains("error[unknown-name]"),
        "{}",
        output.stdout
    );

    rules.write("rules/main.rules", VALID);
    let output = Cmd::new().arg("check").arg("--config").arg(&config).run();
    output.code(0);

    let bad = rules.write("bad.yaml", "rules: rules/main.rules\nlisten_on: 1\n");
    let output = Cmd::new().arg("check").arg("--config").arg(&bad).run();
    output.code(1);
    assert!(output.stderr.contains("listen_on"), "{}", output.stderr);

    // Live mode without webhook tokens: `serve` would refuse to start.
    let live = rules.write(
        "live.yaml",
        "rules: rules/main.rules\naircall:\n  api_id: abc\n  api_token: def\n",
    );
    let output = Cmd::new()
        .args(["check", "--format", "json", "--config"])
        .arg(&live)
        .run();
    output.code(1);
    let json = output.json();
    assert_eq!(json["config"]["mode"], "live");
    assert!(json["config"]["error"]
        .as_str()
        .unwrap()
        .contains("webhook_tokens"));
    assert_eq!(json["rule_sets"][0]["ok"], true);

    let missing = rules.path().join("missing.yaml");
    Cmd::new()
        .arg("check")
        .arg("--config")
        .arg(&missing)
        .run()
        .code(2);
}
