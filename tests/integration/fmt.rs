//! `switchboard fmt`: every `.rules` file in the repository formats to the
//! same rules (same syntax tree, spans aside; same comments; same checker
//! verdict) and formatting is idempotent; snapshots of the layout; the
//! command run as a process (`--check` diffs, in-place atomic rewrites,
//! stdin, syntax errors, exit codes).

#![expect(clippy::unwrap_used, reason = "tests")]

use crate::support::cli;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use cli::{Cmd, Rules};
use regex::Regex;
use switchboard::lang::format::format_source;
use switchboard::lang::parse::parse_file;
use switchboard::lang::{compile, CheckOptions, FileId, SourceFile, Sources};

/// Every `.rules` file under `rules/` and `tests/data/`.
fn repository_rules_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rules") {
                found.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    walk(&root.join("rules"), &mut found);
    walk(&root.join("tests/data"), &mut found);
    found.sort();
    found
}

/// The syntax tree's items with every span blanked out: what the rules
/// say, not where they say it.
fn tree_without_spans(text: &str) -> String {
    let file = parse_file(&SourceFile::new("x.rules", text), FileId(0)).unwrap();
    let spans = Regex::new(r"Span \{ file: FileId\(\d+\), start: \d+, end: \d+ \}").unwrap();
    spans
        .replace_all(&format!("{:?}", file.items), "Span")
        .into_owned()
}

/// The comments of a file, sorted (a comment may move to the line that
/// now prints its code, never disappear or change).
fn comments(text: &str) -> Vec<String> {
    let file = parse_file(&SourceFile::new("x.rules", text), FileId(0)).unwrap();
    let mut comments: Vec<String> = file.comments.into_iter().map(|c| c.node).collect();
    comments.sort();
    comments
}

/// What the checker says: the rule names (when the rules are valid), and
/// the severity and code of each diagnostic.
type Verdict = (Option<Vec<Option<String>>>, Vec<(String, &'static str)>);

fn verdict(text: &str) -> Verdict {
    let compiled = compile(
        Sources::single("x.rules", text),
        &CheckOptions::new(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()),
    );
    let names = compiled.rule_set.as_ref().map(|rules| {
        rules
            .rules()
            .map(|rule| rule.name.map(str::to_owned))
            .collect()
    });
    let codes = compiled
        .diagnostics
        .iter()
        .map(|d| (format!("{:?}", d.severity), d.code.as_str()))
        .collect();
    (names, codes)
}

#[test]
fn every_rules_file_in_the_repository_formats_to_the_same_rules() {
    let files = repository_rules_files();
    assert!(files.len() >= 10, "found only {files:?}");
    let mut formatted_count = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let source = SourceFile::new(path.display().to_string(), text.as_str());
        // Files with syntax errors (test data for the parser) are skipped.
        let Ok(formatted) = format_source(&source) else {
            continue;
        };
        formatted_count += 1;
        let name = path.display();
        assert_eq!(
            tree_without_spans(&formatted),
            tree_without_spans(&text),
            "{name}: the formatted file says something else:\n{formatted}"
        );
        assert_eq!(
            comments(&formatted),
            comments(&text),
            "{name}: comments changed"
        );
        assert_eq!(
            verdict(&formatted),
            verdict(&text),
            "{name}: the checker's verdict changed"
        );
        let again = format_source(&SourceFile::new("again", formatted.as_str())).unwrap();
        assert_eq!(again, formatted, "{name}: formatting is not idempotent");
    }
    assert!(
        formatted_count >= 10,
        "only {formatted_count} files formatted"
    );
}

#[test]
fn layout_snapshots() {
    insta::glob!("../data", "fmt/*.rules", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let formatted = format_source(&SourceFile::new("x.rules", text.as_str())).unwrap();
        assert_eq!(tree_without_spans(&formatted), tree_without_spans(&text));
        assert_eq!(comments(&formatted), comments(&text));
        insta::assert_snapshot!(formatted);
    });
}

const MESSY: &str = "NUMBER main=1234   # the line\nWHEN number==main KEEP\n";
const TIDY: &str = "number main = 1234  # the line\n\nwhen number == main keep\n";

#[test]
fn check_shows_a_diff_and_exits_1_without_writing() {
    let (_dir, path) = Rules::file("main.rules", MESSY);
    let output = Cmd::new()
        .current_dir(path.parent().unwrap())
        .args(["fmt", "--check", "main.rules"])
        .run();
    output.code(1);
    insta::assert_snapshot!(output.stdout, @r"
    --- main.rules
    +++ main.rules (formatted)
    @@ -1,2 +1,3 @@
    -NUMBER main=1234   # the line
    -WHEN number==main KEEP
    +number main = 1234  # the line
    +
    +when number == main keep
    1 file would be reformatted, 0 already formatted
    ");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), MESSY);

    std::fs::write(&path, TIDY).unwrap();
    let output = Cmd::new().args(["fmt", "--check"]).arg(&path).run();
    output.code(0);
    assert_eq!(output.stdout, "");
}

#[test]
fn without_check_files_are_rewritten_in_place() {
    let rules = Rules::new();
    let messy = rules.write("a.rules", MESSY);
    let tidy = rules.write("b.rules", TIDY);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&messy, std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    let output = Cmd::new().arg("fmt").arg(rules.path()).run();
    output.code(0);
    assert_eq!(
        output.stdout,
        format!(
            "formatted {}\n1 file reformatted, 1 already formatted\n",
            messy.display()
        )
    );
    assert_eq!(std::fs::read_to_string(&messy).unwrap(), TIDY);
    assert_eq!(std::fs::read_to_string(&tidy).unwrap(), TIDY);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&messy).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640, "permissions kept");
    }
    // No temporary file is left behind.
    let names: Vec<String> = std::fs::read_dir(rules.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    // A second run has nothing to do.
    let output = Cmd::new().arg("fmt").arg(rules.path()).run();
    output.code(0);
    assert_eq!(output.stdout, "");
}

#[cfg(unix)]
#[test]
fn a_symlinked_file_stays_a_symlink() {
    let rules = Rules::new();
    let target = rules.write("..data/main.rules", MESSY);
    let link = rules.path().join("main.rules");
    std::os::unix::fs::symlink("..data/main.rules", &link).unwrap();
    Cmd::new().arg("fmt").arg(&link).run().code(0);
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), TIDY);
}

#[test]
fn stdin_is_formatted_to_stdout() {
    let output = Cmd::new().args(["fmt", "-"]).stdin(MESSY).run();
    output.code(0);
    assert_eq!(output.stdout, TIDY);
    let output = Cmd::new().args(["fmt", "--check", "-"]).stdin(TIDY).run();
    output.code(0);
    assert_eq!(output.stdout, "");
}

#[test]
fn files_with_syntax_errors_are_left_alone_and_exit_1() {
    let rules = Rules::new();
    let broken = rules.write("broken.rules", "hours office = mnday 08:00-18:00\n");
    let messy = rules.write("messy.rules", MESSY);
    let output = Cmd::new().arg("fmt").arg(&broken).arg(&messy).run();
    output.code(1);
    assert!(
        output
            .stderr
            .contains("expected a day such as `mon` or a range such as `mon-fri`, found `mnday`"),
        "{}",
        output.stderr
    );
    assert!(
        output.stderr.contains("not formatted: 1 error"),
        "{}",
        output.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&broken).unwrap(),
        "hours office = mnday 08:00-18:00\n"
    );
    // The other file was still formatted.
    assert_eq!(std::fs::read_to_string(&messy).unwrap(), TIDY);
}

#[test]
fn missing_files_exit_2() {
    let output = Cmd::new().args(["fmt", "/nonexistent/main.rules"]).run();
    output.code(2);
    assert!(
        output.stderr.contains("no such file or directory"),
        "{}",
        output.stderr
    );
    // A path is required.
    Cmd::new().arg("fmt").run().code(2);
}
