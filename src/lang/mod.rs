//! The rules language: parse, check, evaluate.
//!
//! Pure and synchronous: nothing in this module does I/O, reads the clock,
//! or knows about tokio, axum, reqwest or notify. It spawns no thread of
//! its own accord: only [`parse::parse_file_in_parts`] (and [`compile`],
//! through [`CheckOptions::parse_threads`]) parses the parts of a large
//! file on scoped threads, as many as the caller allows, all joined before
//! it returns. `check`, `explain`, `test` and
//! `serve` all go through [`compile`] and [`RuleSet::evaluate`] /
//! [`RuleSet::explain`].

pub mod ast;
pub mod calendar;
pub mod call;
pub mod check;
pub mod code;
pub mod diagnostic;
pub mod eval;
pub mod format;
mod index;
pub mod outcome;
pub mod parse;
pub mod phone;
pub mod render;
pub mod rule_set;
pub mod schedule;
pub mod source;
pub mod span;
pub mod suggest;
pub mod symbols;
pub mod value;

use std::sync::Arc;

use chrono::NaiveDate;

pub use call::{
    Agent, AvailabilityList, AvailabilityView, Call, Context, Presence, TeamRef, UserRef,
};
pub use code::Code;
pub use diagnostic::{Diagnostic, Severity};
pub use outcome::{Action, Decision, Outcome, Target};
pub use rule_set::RuleSet;
pub use source::{SourceFile, Sources};
pub use span::{FileId, Span};
pub use value::{Contact, Value};

/// Settings for checking that do not come from the rules themselves.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// "Today" for warnings about the coming months (DST gaps); passed in
    /// because this module does not read the clock.
    pub today: NaiveDate,
    /// How many threads may parse one large file (1: the calling thread
    /// only). Passed in because counting the cores this process may use
    /// reads cgroup files, and this module does no I/O.
    pub parse_threads: usize,
}

impl CheckOptions {
    /// Options for `today`, parsing on the calling thread only.
    pub fn new(today: NaiveDate) -> CheckOptions {
        CheckOptions {
            today,
            parse_threads: 1,
        }
    }
}

/// The result of compiling a set of rules files.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// Present only when there is no error (warnings allowed).
    pub rule_set: Option<RuleSet>,
    /// Every error and warning of every file, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
    pub sources: Arc<Sources>,
}

impl Compiled {
    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    pub fn warning_count(&self) -> usize {
        self.diagnostics.len() - self.error_count()
    }
}

/// Parses and checks `sources` as one rule set.
///
/// Syntax errors of every file are reported. Files are checked together
/// (a definition in one file can be used in another) only when all of them
/// parse, so that a broken definition does not also show up as "unknown
/// name" wherever it is used.
pub fn compile(sources: Sources, options: &CheckOptions) -> Compiled {
    let sources = Arc::new(sources);
    let mut files = Vec::with_capacity(sources.len());
    let mut diagnostics = Vec::new();
    for (id, file) in sources.iter() {
        match parse::parse_file_in_parts(file, id, options.parse_threads) {
            Ok(ast) => files.push(ast),
            Err(errors) => diagnostics.extend(errors),
        }
    }
    let rule_set = if diagnostics.is_empty() {
        let (rule_set, check_diagnostics) = check::check(&files, &sources, options);
        diagnostics.extend(check_diagnostics);
        rule_set
    } else {
        None
    };
    diagnostic::sort(&mut diagnostics);
    Compiled {
        rule_set,
        diagnostics,
        sources,
    }
}
