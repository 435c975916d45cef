//! The `switchboard` command line: argument definitions and dispatch.
//!
//! One file per subcommand, each exposing its clap `*Args` struct and a
//! `run(&Args) -> ExitStatus`. The `*Args` structs are public so tests can
//! build them directly. This module holds only what several subcommands
//! share: output format, colour choice, the standard streams, and loading
//! the valid rule set a command works on.

pub mod calendar;
pub mod check;
pub mod decisions;
pub mod exit;
pub mod explain;
pub mod fmt;
pub mod serve;
pub mod test;

use std::io::{self, IsTerminal, Write};
use std::path::Path;

use chrono::NaiveDate;
use clap::{Parser, Subcommand, ValueEnum};

use crate::lang::{compile, render, RuleSet};
use crate::loader;

pub use exit::ExitStatus;

/// A call-routing rules engine for Aircall.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about, after_help = exit::EXIT_CODES_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands, one file each under `src/cli/`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check rules files and report every error and warning.
    #[command(after_help = exit::EXIT_CODES_HELP)]
    Check(check::CheckArgs),
    /// Show how the rules decide one webhook event, rule by rule.
    #[command(after_help = exit::EXIT_CODES_HELP)]
    Explain(explain::ExplainArgs),
    /// Run the webhook service: decide calls with the rules, act through
    /// the Aircall API, reload rules when they change.
    #[command(after_help = exit::EXIT_CODES_HELP)]
    Serve(serve::ServeArgs),
    /// Run rule tests (`*.test.yaml`): each case's call must go where it says.
    #[command(after_help = test::EXIT_CODES_HELP)]
    Test(test::TestArgs),
    /// Rewrite rules files in the canonical layout (or check they are).
    #[command(after_help = fmt::EXIT_CODES_HELP)]
    Fmt(fmt::FmtArgs),
    /// Show when an `hours` definition is open, day by day, with holidays
    /// and clock changes applied.
    #[command(after_help = exit::EXIT_CODES_HELP)]
    Calendar(calendar::CalendarArgs),
    /// Show recorded decisions: why a call went where it went (rule name
    /// and line, actions, contact lookup, outcome of each action).
    #[command(after_help = exit::EXIT_CODES_HELP)]
    Decisions(decisions::DecisionsArgs),
}

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> ExitStatus {
    match cli.command {
        Command::Check(args) => check::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Test(args) => test::run(&args),
        Command::Fmt(args) => fmt::run(&args),
        Command::Calendar(args) => calendar::run(&args),
        Command::Decisions(args) => decisions::run(&args),
    }
}

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    /// Text for people.
    #[default]
    Human,
    /// One JSON document on stdout, for tools.
    Json,
}

/// How `check` and `test` print their report.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct Output {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// Colour the human output.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// Whether to colour human output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset or empty.
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Resolves `auto` against the real stdout and environment.
    pub fn enabled(self) -> bool {
        self.resolve(
            std::io::stdout().is_terminal(),
            std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty()),
        )
    }

    /// Resolves `auto` for what goes to stderr (diagnostics).
    pub fn enabled_on_stderr(self) -> bool {
        self.resolve(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty()),
        )
    }

    /// The decision itself, from the facts (see <https://no-color.org>:
    /// `NO_COLOR` counts only when set to a non-empty value).
    pub fn resolve(self, stdout_is_terminal: bool, no_color: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => stdout_is_terminal && !no_color,
        }
    }
}

/// Runs a command's `execute` against the real stdout and stderr, each
/// locked for the whole run. Failing to write them fails the command.
fn on_std_streams(
    execute: impl FnOnce(&mut dyn Write, &mut dyn Write) -> io::Result<ExitStatus>,
) -> ExitStatus {
    let (stdout, stderr) = (io::stdout(), io::stderr());
    execute(&mut stdout.lock(), &mut stderr.lock()).unwrap_or(ExitStatus::Failure)
}

/// Loads and compiles the rules at `path` for a command that needs a valid
/// rule set. When they cannot be read or have errors, says so on `err`
/// (the diagnostics as `check` renders them, then one line ending with
/// `consequence`, e.g. "; nothing to explain") and gives the exit status.
fn load_rule_set(
    path: &Path,
    today: NaiveDate,
    err: &mut dyn Write,
    color: bool,
    consequence: &str,
) -> io::Result<Result<RuleSet, ExitStatus>> {
    let sources = match loader::load_sources(path) {
        Ok(sources) => sources,
        Err(error) => {
            writeln!(err, "error: {error}")?;
            return Ok(Err(ExitStatus::Failure));
        }
    };
    let compiled = compile(sources, &loader::check_options(today));
    match compiled.rule_set {
        Some(rule_set) if compiled.error_count() == 0 => Ok(Ok(rule_set)),
        _ => {
            err.write_all(
                render::render(&compiled.diagnostics, &compiled.sources, color).as_bytes(),
            )?;
            writeln!(
                err,
                "\nerror: {}: the rules are invalid ({}){consequence}",
                path.display(),
                render::summary(&compiled.diagnostics)
            )?;
            Ok(Err(ExitStatus::Invalid))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_auto_needs_a_terminal_and_no_no_color() {
        assert!(ColorChoice::Auto.resolve(true, false));
        assert!(!ColorChoice::Auto.resolve(false, false));
        assert!(!ColorChoice::Auto.resolve(true, true));
        assert!(ColorChoice::Always.resolve(false, true));
        assert!(!ColorChoice::Never.resolve(true, false));
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
