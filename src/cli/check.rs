//! `switchboard check`: compile rule sets and report every diagnostic.
//!
//! Each PATH (a file, or a directory of `*.rules` files) is its own rule
//! set. With `--config FILE`, the config file is validated too and the rules
//! it points to are checked as one more rule set (PATH may then be left out).
//!
//! Output: everything the check finds goes to stdout (rendered diagnostics,
//! then one summary line per rule set, then a total line when there are
//! several; or one JSON document with `--format json`), so it can be piped
//! or paged. stderr gets only the problems that stopped a path from being
//! checked at all (unreadable file, bad config), in every format.
//!
//! This command adds no rules logic: it is [`crate::loader`],
//! [`crate::lang::compile`] and [`crate::lang::render`], exactly what the
//! server runs at start-up and on reload.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, Utc};
use serde::Serialize;

use super::exit::ExitStatus;
use super::{Format, Output};
use crate::config::{Config, ConfigError, Mode};
use crate::lang::render::{self, JsonFile};
use crate::lang::{compile, CheckOptions, Compiled};
use crate::loader;

#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// Rules files, or directories whose `*.rules` files form one rule set.
    /// Each PATH is checked as its own rule set.
    #[arg(value_name = "PATH", required_unless_present = "config")]
    pub paths: Vec<PathBuf>,

    /// Also validate this `serve` config file and check the rules it points to.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Fail (exit 1) on warnings as well as errors.
    #[arg(long)]
    pub deny_warnings: bool,

    #[command(flatten)]
    pub output: Output,
}

/// Runs `check` against the real stdout/stderr, with today's UTC date.
pub fn run(args: &CheckArgs) -> ExitStatus {
    let color = args.output.color.enabled();
    super::on_std_streams(|out, err| execute(args, out, err, color, Utc::now().date_naive()))
}

/// `check` with its outputs, colour and date given, for tests and embedding.
pub fn execute(
    args: &CheckArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
    color: bool,
    today: NaiveDate,
) -> io::Result<ExitStatus> {
    let options = loader::check_options(today);
    let mut status = ExitStatus::Success;
    let mut report = Report::default();

    let mut targets: Vec<PathBuf> = args.paths.clone();
    if let Some(config_path) = &args.config {
        let (config_report, rules) = check_config(config_path);
        if let Some(problem) = &config_report.error {
            writeln!(err, "error: {problem}")?;
        }
        status = status.worst(config_report.status);
        if let Some(rules) = rules {
            targets.push(rules);
        }
        report.config = Some(config_report);
    }

    for path in &targets {
        let set = check_path(path, &options, args.deny_warnings);
        status = status.worst(set.status);
        if let Some(problem) = &set.load_error {
            writeln!(err, "error: {problem}")?;
        }
        report.sets.push(set);
    }

    // The contact sources the config names: they connect, their queries
    // prepare, and they return the fields the rules read.
    if let Some(Ok(config)) = args.config.as_deref().map(Config::from_file) {
        let wanted: Vec<String> = report
            .sets
            .last()
            .and_then(|set| set.compiled.as_ref())
            .and_then(|compiled| compiled.rule_set.as_ref())
            .map(|rules| rules.contact_fields().map(str::to_owned).collect())
            .unwrap_or_default();
        let contacts = crate::contacts::check_sources(&config.contacts, &wanted);
        for problem in &contacts.errors {
            writeln!(err, "error: {problem}")?;
            status = status.worst(ExitStatus::Invalid);
        }
        for warning in &contacts.warnings {
            writeln!(err, "warning: {warning}")?;
            if args.deny_warnings {
                status = status.worst(ExitStatus::Invalid);
            }
        }
    }

    match args.output.format {
        Format::Human => write_human(out, &report, color)?,
        Format::Json => write_json(out, &report)?,
    }
    out.flush()?;
    Ok(status)
}

/// Everything one run found, before formatting.
#[derive(Debug, Default)]
struct Report {
    config: Option<ConfigReport>,
    sets: Vec<SetReport>,
}

#[derive(Debug)]
struct ConfigReport {
    path: PathBuf,
    status: ExitStatus,
    mode: Option<Mode>,
    error: Option<String>,
}

#[derive(Debug)]
struct SetReport {
    path: PathBuf,
    status: ExitStatus,
    /// Why the path could not be read (then there is nothing else).
    load_error: Option<String>,
    compiled: Option<Compiled>,
    /// Warnings made fatal by `--deny-warnings`.
    denied: bool,
}

/// Validates the config file; returns the rules path it names when the
/// file could be decoded.
fn check_config(path: &Path) -> (ConfigReport, Option<PathBuf>) {
    match Config::from_file(path) {
        Ok(config) => {
            let mode = config.mode();
            // `serve` refuses this at start-up; saying so here is the point
            // of checking a config before deploying it.
            let error = (mode == Mode::Live && config.webhook_tokens.is_empty()).then(|| {
                format!(
                    "{}: `webhook_tokens`: live mode (Aircall credentials given) needs at least \
                     one webhook token, or anyone could post calls to the server",
                    path.display()
                )
            });
            let report = ConfigReport {
                path: path.to_owned(),
                status: if error.is_some() {
                    ExitStatus::Invalid
                } else {
                    ExitStatus::Success
                },
                mode: Some(mode),
                error,
            };
            (report, Some(config.rules))
        }
        Err(error) => {
            // An unreadable file is an I/O failure; a readable but wrong one
            // is invalid input, like a rules file with errors.
            let status = match error {
                ConfigError::Read { .. } => ExitStatus::Failure,
                _ => ExitStatus::Invalid,
            };
            let report = ConfigReport {
                path: path.to_owned(),
                status,
                mode: None,
                error: Some(error.to_string()),
            };
            (report, None)
        }
    }
}

fn check_path(path: &Path, options: &CheckOptions, deny_warnings: bool) -> SetReport {
    match loader::load_sources(path) {
        Err(error) => SetReport {
            path: path.to_owned(),
            status: ExitStatus::Failure,
            load_error: Some(error.to_string()),
            compiled: None,
            denied: false,
        },
        Ok(sources) => {
            let compiled = compile(sources, options);
            let invalid = compiled.error_count() > 0 || compiled.rule_set.is_none();
            let denied = !invalid && deny_warnings && compiled.warning_count() > 0;
            SetReport {
                path: path.to_owned(),
                status: if invalid || denied {
                    ExitStatus::Invalid
                } else {
                    ExitStatus::Success
                },
                load_error: None,
                compiled: Some(compiled),
                denied,
            }
        }
    }
}

fn write_human(out: &mut dyn Write, report: &Report, color: bool) -> io::Result<()> {
    let mut blocks = 0;
    if let Some(config) = &report.config {
        let verdict = match (&config.error, config.mode) {
            (None, Some(mode)) => format!("ok ({} mode)", mode.as_str()),
            (Some(_), _) => "invalid (see above)".to_owned(),
            (None, None) => "invalid".to_owned(),
        };
        writeln!(out, "{}: {verdict}", config.path.display())?;
        blocks += 1;
    }
    for set in &report.sets {
        if blocks > 0 {
            writeln!(out)?;
        }
        blocks += 1;
        let Some(compiled) = &set.compiled else {
            writeln!(out, "{}: not checked (see above)", set.path.display())?;
            continue;
        };
        let rendered = render::render(&compiled.diagnostics, &compiled.sources, color);
        if !rendered.is_empty() {
            out.write_all(rendered.as_bytes())?;
            writeln!(out)?;
        }
        writeln!(out, "{}: {}", set.path.display(), verdict(set, compiled))?;
    }
    if report.sets.len() > 1 {
        let (errors, warnings) = totals(report);
        let invalid = report
            .sets
            .iter()
            .filter(|set| set.status != ExitStatus::Success)
            .count();
        writeln!(
            out,
            "\nchecked {} rule sets, {invalid} not ok: {}",
            report.sets.len(),
            render::summary_counts(errors, warnings)
        )?;
    }
    Ok(())
}

/// The summary of one rule set, e.g. `ok (12 rules in 3 files), 1 warning`.
fn verdict(set: &SetReport, compiled: &Compiled) -> String {
    let (errors, warnings) = (compiled.error_count(), compiled.warning_count());
    match &compiled.rule_set {
        Some(rule_set) if errors == 0 => {
            let rules = match rule_set.rule_count() {
                1 => "1 rule".to_owned(),
                n => format!("{n} rules"),
            };
            let size = match compiled.sources.len() {
                1 => rules,
                files => format!("{rules} in {files} files"),
            };
            if set.denied {
                format!(
                    "{} denied by --deny-warnings",
                    render::summary_counts(0, warnings)
                )
            } else if warnings > 0 {
                format!("ok ({size}), {}", render::summary_counts(0, warnings))
            } else {
                format!("ok ({size})")
            }
        }
        _ if errors > 0 => render::summary_counts(errors, warnings),
        // No error yet no rule set: a bug in the compiler, not in the rules;
        // still refuse to call it valid.
        _ => "invalid (no rule set was produced)".to_owned(),
    }
}

fn totals(report: &Report) -> (usize, usize) {
    report
        .sets
        .iter()
        .filter_map(|set| set.compiled.as_ref())
        .fold((0, 0), |(errors, warnings), compiled| {
            (
                errors + compiled.error_count(),
                warnings + compiled.warning_count(),
            )
        })
}

/// `check --format json`: `{"files": [...], ...}` as issue 2 specifies,
/// plus per-rule-set verdicts and totals.
#[derive(Debug, Serialize)]
struct JsonReport {
    /// Every file of every rule set, with its diagnostics.
    files: Vec<JsonFileEntry>,
    rule_sets: Vec<JsonRuleSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<JsonConfig>,
    errors: usize,
    warnings: usize,
    ok: bool,
}

#[derive(Debug, Serialize)]
struct JsonFileEntry {
    #[serde(flatten)]
    file: JsonFile,
    /// Why the file could not be read, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct JsonRuleSet {
    path: String,
    ok: bool,
    errors: usize,
    warnings: usize,
    /// Number of rules, when the set is valid.
    rules: Option<usize>,
    /// The content hash the server would report, when the set is valid.
    revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct JsonConfig {
    path: String,
    ok: bool,
    mode: Option<Mode>,
    error: Option<String>,
}

fn write_json(out: &mut dyn Write, report: &Report) -> io::Result<()> {
    let mut files = Vec::new();
    let mut rule_sets = Vec::new();
    for set in &report.sets {
        let path = set.path.display().to_string();
        match &set.compiled {
            None => {
                files.push(JsonFileEntry {
                    file: JsonFile {
                        path: path.clone(),
                        diagnostics: Vec::new(),
                    },
                    error: set.load_error.clone(),
                });
                rule_sets.push(JsonRuleSet {
                    path,
                    ok: false,
                    errors: 0,
                    warnings: 0,
                    rules: None,
                    revision: None,
                    error: set.load_error.clone(),
                });
            }
            Some(compiled) => {
                files.extend(
                    render::to_json(&compiled.diagnostics, &compiled.sources)
                        .into_iter()
                        .map(|file| JsonFileEntry { file, error: None }),
                );
                rule_sets.push(JsonRuleSet {
                    path,
                    ok: set.status == ExitStatus::Success,
                    errors: compiled.error_count(),
                    warnings: compiled.warning_count(),
                    rules: compiled.rule_set.as_ref().map(|set| set.rule_count()),
                    revision: compiled
                        .rule_set
                        .as_ref()
                        .map(|set| set.revision().to_owned()),
                    error: None,
                });
            }
        }
    }
    let (errors, warnings) = totals(report);
    let config = report.config.as_ref().map(|config| JsonConfig {
        path: config.path.display().to_string(),
        ok: config.status == ExitStatus::Success,
        mode: config.mode,
        error: config.error.clone(),
    });
    let ok = rule_sets.iter().all(|set| set.ok) && config.as_ref().is_none_or(|config| config.ok);
    let json = JsonReport {
        files,
        rule_sets,
        config,
        errors,
        warnings,
        ok,
    };
    serde_json::to_writer_pretty(&mut *out, &json)?;
    writeln!(out)
}
