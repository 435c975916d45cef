//! `switchboard test`: run the rule test suites (`*.test.yaml`) and say
//! which cases pass, why the others fail, and which rules no case reached.
//!
//! It finds suites (a directory's `*.test.yaml`, the test file beside a
//! rules file, or a test file given directly), compiles each suite's rules
//! with [`crate::loader`] and [`crate::lang::compile`] like `check` and
//! `serve` do, and runs the cases with [`crate::suites`], which decides
//! calls with the evaluator `serve` and `explain` use. This file only finds
//! files and prints.
//!
//! Output: the report goes to stdout (text, or one JSON document with
//! `--format json`); what stops a suite from running (an unreadable or
//! malformed test file, invalid rules with their rendered diagnostics) goes
//! to stderr as well. Exit: 0 when every case passed, 1 when a case failed
//! or the rules are invalid (or, with `--deny-uncovered`, a rule decided no
//! case), 2 when a suite could not run.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, Utc};
use serde::Serialize;

use super::exit::ExitStatus;
use super::{Format, Output};
use crate::lang::outcome::{Decision, RuleTrace};
use crate::lang::render::{self, JsonFile};
use crate::lang::{compile, Action, CheckOptions, RuleSet, Sources};
use crate::loader;
use crate::suites::runner::{self, CaseResult, SuiteRun};
use crate::suites::{self, is_test_file, rule_label, test_beside, Case, Suite};

/// The exit codes of `test`, as shown at the end of its `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit status:
  0  every case passed
  1  a case failed, or the rules are invalid (or, with --deny-uncovered, a rule
     decided no case)
  2  a suite could not run: no test file, unreadable or malformed test file,
     a case that names an unknown rule, target or payload";

#[derive(Debug, Clone, clap::Args)]
pub struct TestArgs {
    /// Test files (`NAME.test.yaml`), rules files (the `NAME.test.yaml`
    /// beside `NAME.rules` is run), or directories (every `*.test.yaml` in
    /// them, each against its own rules).
    #[arg(value_name = "PATH", default_value = "rules")]
    pub paths: Vec<PathBuf>,

    /// Run every suite against these rules (a file or a directory) instead
    /// of the ones it names: try a change before putting it in place.
    #[arg(long, value_name = "PATH")]
    pub rules: Option<PathBuf>,

    /// Fail (exit 1) when a rule decided none of a suite's cases.
    #[arg(long)]
    pub deny_uncovered: bool,

    #[command(flatten)]
    pub output: Output,
}

/// Runs `test` against the real stdout/stderr, with today's UTC date for
/// the checker's warnings.
pub fn run(args: &TestArgs) -> ExitStatus {
    let color = args.output.color.enabled();
    super::on_std_streams(|out, err| execute(args, out, err, color, Utc::now().date_naive()))
}

/// `test` with its outputs, colour and date given, for tests and embedding.
pub fn execute(
    args: &TestArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
    color: bool,
    today: NaiveDate,
) -> io::Result<ExitStatus> {
    let options = loader::check_options(today);
    let mut report = Report::default();
    for path in &args.paths {
        match discover(path) {
            Ok(found) => {
                report.untested.extend(found.rules_files);
                for suite in found.suites {
                    report
                        .suites
                        .push(run_suite(&suite, args.rules.as_deref(), &options));
                }
            }
            Err(problem) => report.suites.push(SuiteReport::failed(path, None, problem)),
        }
    }
    // A rules file is untested when no suite ran against it.
    let tested: BTreeSet<PathBuf> = report
        .suites
        .iter()
        .filter_map(|suite| suite.sources.as_ref())
        .flat_map(|sources| sources.iter().map(|(_, file)| PathBuf::from(&file.name)))
        .collect();
    report.untested.retain(|path| !tested.contains(path));
    report.untested.sort();
    report.untested.dedup();

    let mut status = ExitStatus::Success;
    for suite in &report.suites {
        status = status.worst(suite.status(args.deny_uncovered));
        if let Some(problem) = &suite.error {
            writeln!(err, "error: {problem}")?;
        }
        for problem in &suite.problems {
            writeln!(err, "error: {}: {problem}", suite.path.display())?;
        }
        if let Some(diagnostics) = &suite.invalid {
            if args.output.format == Format::Json {
                // The JSON document carries them; stderr still says why.
                writeln!(
                    err,
                    "error: {}: the rules are invalid ({})",
                    suite.rules_path.display(),
                    diagnostics.summary
                )?;
            } else {
                err.write_all(diagnostics.rendered.as_bytes())?;
                writeln!(
                    err,
                    "\nerror: {}: the rules are invalid ({}); no case was run",
                    suite.rules_path.display(),
                    diagnostics.summary
                )?;
            }
        }
    }
    match args.output.format {
        Format::Human => write_human(out, &report, color)?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, &json_report(&report, args.deny_uncovered))?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(status)
}

// ---------------------------------------------------------------- finding suites

#[derive(Debug, Default)]
struct Found {
    suites: Vec<PathBuf>,
    /// Rules files seen in a directory, to report those no suite tests.
    rules_files: Vec<PathBuf>,
}

fn discover(path: &Path) -> Result<Found, String> {
    let metadata = std::fs::metadata(path)
        .map_err(|error| format!("{}: {}", path.display(), io_problem(&error)))?;
    if metadata.is_dir() {
        let mut found = Found::default();
        let entries = std::fs::read_dir(path)
            .map_err(|error| format!("{}: {}", path.display(), io_problem(&error)))?;
        for entry in entries {
            let entry = entry.map_err(|error| format!("{}: {error}", path.display()))?;
            let file = entry.path();
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if hidden || !file.is_file() {
                continue;
            }
            if is_test_file(&file) {
                found.suites.push(file);
            } else if file
                .extension()
                .is_some_and(|extension| extension == loader::RULES_EXTENSION)
            {
                found.rules_files.push(file);
            }
        }
        if found.suites.is_empty() {
            return Err(format!(
                "{}: no test file (`*.test.yaml`) in this directory",
                path.display()
            ));
        }
        found.suites.sort();
        Ok(found)
    } else if is_test_file(path) {
        Ok(Found {
            suites: vec![path.to_owned()],
            rules_files: Vec::new(),
        })
    } else {
        let test = test_beside(path).ok_or_else(|| {
            let stem = path
                .file_stem()
                .map_or_else(|| "NAME".into(), |stem| stem.to_string_lossy());
            format!(
                "{}: no test file beside it (expected {})",
                path.display(),
                path.with_file_name(format!("{stem}.test.yaml")).display()
            )
        })?;
        Ok(Found {
            suites: vec![test],
            rules_files: Vec::new(),
        })
    }
}

fn io_problem(error: &io::Error) -> String {
    if error.kind() == io::ErrorKind::NotFound {
        "no such file or directory".to_owned()
    } else {
        error.to_string()
    }
}

// ---------------------------------------------------------------- running

#[derive(Debug, Default)]
struct Report {
    suites: Vec<SuiteReport>,
    untested: Vec<PathBuf>,
}

#[derive(Debug)]
struct SuiteReport {
    path: PathBuf,
    rules_path: PathBuf,
    /// Why the suite could not run at all (unreadable, malformed).
    error: Option<String>,
    /// Problems in the cases (each names its case), found before running.
    problems: Vec<String>,
    /// The rules' diagnostics when they are invalid.
    invalid: Option<Invalid>,
    sources: Option<std::sync::Arc<Sources>>,
    warnings: usize,
    rule_set: Option<RuleSet>,
    cases: Vec<Case>,
    run: Option<SuiteRun>,
}

#[derive(Debug)]
struct Invalid {
    rendered: String,
    summary: String,
    json: Vec<JsonFile>,
}

impl SuiteReport {
    fn new(path: &Path, rules: Option<&Path>) -> SuiteReport {
        SuiteReport {
            path: path.to_owned(),
            rules_path: rules.map(Path::to_owned).unwrap_or_default(),
            error: None,
            problems: Vec::new(),
            invalid: None,
            sources: None,
            warnings: 0,
            rule_set: None,
            cases: Vec::new(),
            run: None,
        }
    }

    fn failed(path: &Path, rules: Option<&Path>, error: String) -> SuiteReport {
        SuiteReport {
            error: Some(error),
            ..SuiteReport::new(path, rules)
        }
    }

    fn status(&self, deny_uncovered: bool) -> ExitStatus {
        if self.error.is_some() || !self.problems.is_empty() {
            return ExitStatus::Failure;
        }
        if self.invalid.is_some() {
            return ExitStatus::Invalid;
        }
        match &self.run {
            Some(run) if run.failed() > 0 => ExitStatus::Invalid,
            Some(run) if deny_uncovered && self.uncovered(run).next().is_some() => {
                ExitStatus::Invalid
            }
            Some(_) => ExitStatus::Success,
            None => ExitStatus::Failure,
        }
    }

    /// The rules that decided no case, in order.
    fn uncovered<'a>(&'a self, run: &'a SuiteRun) -> impl Iterator<Item = UncoveredRule<'a>> {
        self.rule_set
            .iter()
            .flat_map(RuleSet::rules)
            .filter(|rule| !run.decided.contains(&rule.index))
            .map(|rule| UncoveredRule {
                name: rule.name,
                line: rule.line,
                file: rule.file,
            })
    }
}

fn run_suite(path: &Path, rules_override: Option<&Path>, options: &CheckOptions) -> SuiteReport {
    let suite = match Suite::load(path, rules_override) {
        Ok(suite) => suite,
        Err(problem) => return SuiteReport::failed(path, rules_override, problem),
    };
    let sources = match loader::load_sources(&suite.rules) {
        Ok(sources) => sources,
        Err(error) => {
            return SuiteReport::failed(
                path,
                Some(&suite.rules),
                format!("{}: the rules: {error}", path.display()),
            )
        }
    };
    let compiled = compile(sources, options);
    let mut report = SuiteReport::new(path, Some(&suite.rules));
    report.sources = Some(compiled.sources.clone());
    report.warnings = compiled.warning_count();
    let rule_set = match compiled.rule_set {
        Some(rule_set) if compiled.error_count() == 0 => rule_set,
        _ => {
            report.invalid = Some(Invalid {
                rendered: render::render(&compiled.diagnostics, &compiled.sources, false),
                summary: render::summary(&compiled.diagnostics),
                json: render::to_json(&compiled.diagnostics, &compiled.sources),
            });
            return report;
        }
    };
    match suites::prepare(&suite, &rule_set) {
        Ok(cases) => {
            report.run = Some(runner::run(&rule_set, &cases));
            report.cases = cases;
        }
        Err(problems) => report.problems = problems,
    }
    report.rule_set = Some(rule_set);
    report
}

// ---------------------------------------------------------------- human

struct Paint {
    color: bool,
}

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
    fn ok(&self, text: &str) -> String {
        self.wrap("32", text)
    }
    fn fail(&self, text: &str) -> String {
        self.wrap("1;31", text)
    }
    fn dim(&self, text: &str) -> String {
        self.wrap("2", text)
    }
}

fn write_human(out: &mut dyn Write, report: &Report, color: bool) -> io::Result<()> {
    let paint = Paint { color };
    let (mut passed, mut failed, mut broken) = (0, 0, 0);
    for (index, suite) in report.suites.iter().enumerate() {
        if index > 0 {
            writeln!(out)?;
        }
        let Some(run) = &suite.run else {
            broken += 1;
            let why = if suite.invalid.is_some() {
                "the rules are invalid"
            } else {
                "the test file has errors"
            };
            writeln!(
                out,
                "{}: {} (not run: {why}; see above)",
                suite.path.display(),
                paint.fail("error")
            )?;
            continue;
        };
        passed += run.passed();
        failed += run.failed();
        writeln!(
            out,
            "{}: {} against {}",
            suite.path.display(),
            plural(run.results.len(), "case"),
            suite.rules_path.display()
        )?;
        let (Some(rule_set), Some(sources)) = (&suite.rule_set, &suite.sources) else {
            continue;
        };
        for (result, case) in run.results.iter().zip(&suite.cases) {
            if result.passed() {
                writeln!(out, "  {}    {}", paint.ok("ok"), result.name)?;
            } else {
                writeln!(out, "  {}  {}", paint.fail("FAIL"), result.name)?;
                write_failure(out, sources, case, result, &paint)?;
            }
        }
        let total = rule_set.rule_count();
        let uncovered: Vec<UncoveredRule<'_>> = suite.uncovered(run).collect();
        if uncovered.is_empty() {
            writeln!(
                out,
                "  coverage: every rule ({total}) decided at least one case"
            )?;
        } else {
            writeln!(
                out,
                "  coverage: {} of {total} rules decided a case; no case reached:",
                total - uncovered.len()
            )?;
            for rule in &uncovered {
                writeln!(out, "    {}", rule_label(rule.name, rule.line))?;
            }
        }
        if suite.warnings > 0 {
            writeln!(
                out,
                "  {}",
                paint.dim(&format!(
                    "note: the rules have {} (see `switchboard check {}`)",
                    plural(suite.warnings, "warning"),
                    suite.rules_path.display()
                ))
            )?;
        }
        let verdict = if run.failed() == 0 {
            paint.ok("ok")
        } else {
            paint.fail("FAILED")
        };
        writeln!(
            out,
            "{}: {verdict}: {} passed, {} failed",
            suite.path.display(),
            run.passed(),
            run.failed()
        )?;
    }
    for path in &report.untested {
        writeln!(out, "note: {} has no test file", path.display())?;
    }
    if report.suites.len() > 1 {
        let verdict = if failed == 0 && broken == 0 {
            paint.ok("ok")
        } else {
            paint.fail("FAILED")
        };
        let mut line = format!(
            "\ntest result: {verdict}. {passed} passed, {failed} failed, {}",
            plural(report.suites.len(), "suite")
        );
        if broken > 0 {
            line.push_str(&format!(" ({broken} not run)"));
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

fn write_failure(
    out: &mut dyn Write,
    sources: &Sources,
    case: &Case,
    result: &CaseResult,
    paint: &Paint,
) -> io::Result<()> {
    let pad = "        ";
    writeln!(out, "{pad}expected: {}", case.expect.describe())?;
    writeln!(
        out,
        "{pad}actual:   {}",
        describe_decision(&result.outcome.decision)
    )?;
    for failure in &result.failures {
        writeln!(out, "{pad}- {failure}")?;
    }
    let Some(explained) = &result.explained else {
        return Ok(());
    };
    if let Some(deciding) = &explained.deciding {
        writeln!(
            out,
            "{pad}{} decided:",
            rule_label(deciding.rule.name.as_deref(), deciding.rule.line)
        )?;
        write_trace(out, sources, deciding, paint)?;
    }
    for expected in &explained.expected {
        let label = rule_label(
            expected.trace.rule.name.as_deref(),
            expected.trace.rule.line,
        );
        let how = match (expected.reached, expected.trace.matched) {
            (true, _) => "was tried and did not match",
            (false, true) => "was not reached (an earlier rule decided); on its own it matches",
            (false, false) => {
                "was not reached (an earlier rule decided); on its own it does not match either"
            }
        };
        writeln!(out, "{pad}{label} {how}:")?;
        write_trace(out, sources, &expected.trace, paint)?;
    }
    Ok(())
}

/// The conditions of a rule under the source lines they stand on, as
/// `explain` shows them.
fn write_trace(
    out: &mut dyn Write,
    sources: &Sources,
    trace: &RuleTrace,
    paint: &Paint,
) -> io::Result<()> {
    let file = sources.get(trace.rule.span.file);
    let line_text = |line: u32| {
        file.map(|file| file.line_text(line as usize).replace('\t', "    "))
            .unwrap_or_default()
    };
    let width = trace
        .conditions
        .iter()
        .map(|condition| condition.line)
        .chain(std::iter::once(trace.rule.line))
        .max()
        .map_or(1, |line| line.to_string().len());
    let pad = "          ";
    if trace.conditions.is_empty() {
        let line = trace.rule.line;
        writeln!(out, "{pad}{line:>width$} | {}", line_text(line).trim_end())?;
        return Ok(());
    }
    let mut shown = None;
    for condition in &trace.conditions {
        if shown != Some(condition.line) {
            writeln!(
                out,
                "{pad}{:>width$} | {}",
                condition.line,
                line_text(condition.line).trim_end()
            )?;
            shown = Some(condition.line);
        }
        let mark = if condition.result {
            paint.ok("[pass]")
        } else {
            paint.fail("[fail]")
        };
        let text = condition
            .text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if condition.detail.is_empty() {
            writeln!(out, "{pad}{:width$}   {mark} {text}", "")?;
        } else {
            writeln!(
                out,
                "{pad}{:width$}   {mark} {text} ({})",
                "", condition.detail
            )?;
        }
    }
    Ok(())
}

/// `rule "VIP" (line 28): transfer to agent alice@example.com`.
fn describe_decision(decision: &Decision) -> String {
    let action = runner::describe_main_action(decision);
    match &decision.rule {
        Some(rule) => format!("{}: {action}", rule_label(rule.name.as_deref(), rule.line)),
        None if decision.ignored.is_some() => action,
        None => format!("no rule: {action}"),
    }
}

fn plural(count: usize, word: &str) -> String {
    if count == 1 {
        format!("1 {word}")
    } else {
        format!("{count} {word}s")
    }
}

// ---------------------------------------------------------------- JSON

#[derive(Debug, Serialize)]
struct JsonReport<'a> {
    ok: bool,
    passed: usize,
    failed: usize,
    suites: Vec<JsonSuite<'a>>,
    /// Rules files found in a directory that no suite tested.
    untested: Vec<String>,
}

#[derive(Debug, Serialize)]
struct JsonSuite<'a> {
    path: String,
    rules: String,
    /// Why the suite did not run, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    problems: &'a [String],
    /// The rules' diagnostics, when they are invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    diagnostics: Option<&'a [JsonFile]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revision: Option<&'a str>,
    passed: usize,
    failed: usize,
    cases: Vec<JsonCase<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    coverage: Option<JsonCoverage<'a>>,
}

#[derive(Debug, Serialize)]
struct JsonCase<'a> {
    name: &'a str,
    passed: bool,
    expected: String,
    actual: String,
    /// The decision as `explain --format json` gives it.
    decision: JsonDecision<'a>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    failures: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    deciding_rule: Option<&'a RuleTrace>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    expected_rules: Vec<JsonExpectedRule<'a>>,
}

#[derive(Debug, Serialize)]
struct JsonDecision<'a> {
    rule: Option<JsonRule<'a>>,
    actions: &'a [Action],
    #[serde(skip_serializing_if = "Option::is_none")]
    ignored: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct JsonRule<'a> {
    name: Option<&'a str>,
    line: u32,
}

#[derive(Debug, Serialize)]
struct JsonExpectedRule<'a> {
    reached: bool,
    trace: &'a RuleTrace,
}

#[derive(Debug, Serialize)]
struct JsonCoverage<'a> {
    rules: usize,
    decided: usize,
    not_reached: Vec<UncoveredRule<'a>>,
}

#[derive(Debug, Serialize)]
struct UncoveredRule<'a> {
    name: Option<&'a str>,
    line: u32,
    file: &'a str,
}

fn json_report(report: &Report, deny_uncovered: bool) -> JsonReport<'_> {
    let suites: Vec<JsonSuite<'_>> = report.suites.iter().map(json_suite).collect();
    let passed = suites.iter().map(|suite| suite.passed).sum();
    let failed = suites.iter().map(|suite| suite.failed).sum();
    let ok = report
        .suites
        .iter()
        .all(|suite| suite.status(deny_uncovered) == ExitStatus::Success);
    JsonReport {
        ok,
        passed,
        failed,
        suites,
        untested: report
            .untested
            .iter()
            .map(|path| path.display().to_string())
            .collect(),
    }
}

fn json_suite(suite: &SuiteReport) -> JsonSuite<'_> {
    let cases: Vec<JsonCase<'_>> = suite
        .run
        .iter()
        .flat_map(|run| run.results.iter().zip(&suite.cases))
        .map(|(result, case)| json_case(case, result))
        .collect();
    let coverage = match (&suite.run, &suite.rule_set) {
        (Some(run), Some(rule_set)) => {
            let not_reached: Vec<UncoveredRule<'_>> = suite.uncovered(run).collect();
            Some(JsonCoverage {
                rules: rule_set.rule_count(),
                decided: rule_set.rule_count() - not_reached.len(),
                not_reached,
            })
        }
        _ => None,
    };
    JsonSuite {
        path: suite.path.display().to_string(),
        rules: suite.rules_path.display().to_string(),
        error: suite.error.clone().or_else(|| {
            suite
                .invalid
                .as_ref()
                .map(|invalid| format!("the rules are invalid ({})", invalid.summary))
        }),
        problems: &suite.problems,
        diagnostics: suite
            .invalid
            .as_ref()
            .map(|invalid| invalid.json.as_slice()),
        revision: suite.rule_set.as_ref().map(RuleSet::revision),
        passed: suite.run.as_ref().map_or(0, SuiteRun::passed),
        failed: suite.run.as_ref().map_or(0, SuiteRun::failed),
        cases,
        coverage,
    }
}

fn json_case<'a>(case: &'a Case, result: &'a CaseResult) -> JsonCase<'a> {
    let decision = &result.outcome.decision;
    JsonCase {
        name: &result.name,
        passed: result.passed(),
        expected: case.expect.describe(),
        actual: describe_decision(decision),
        decision: JsonDecision {
            rule: decision.rule.as_ref().map(|rule| JsonRule {
                name: rule.name.as_deref(),
                line: rule.line,
            }),
            actions: &decision.actions,
            ignored: decision.ignored,
        },
        failures: &result.failures,
        deciding_rule: result
            .explained
            .as_ref()
            .and_then(|explained| explained.deciding.as_ref()),
        expected_rules: result
            .explained
            .iter()
            .flat_map(|explained| &explained.expected)
            .map(|expected| JsonExpectedRule {
                reached: expected.reached,
                trace: &expected.trace,
            })
            .collect(),
    }
}
