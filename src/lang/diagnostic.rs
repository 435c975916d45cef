//! The one diagnostic type shared by `check`, server start-up and reloads.
//!
//! Diagnostics are data: they carry spans, not line numbers, and are turned
//! into text only by [`crate::lang::render`].

use serde::Serialize;

use super::code::Code;
use super::span::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A message about a place in a rules file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Always the code's own severity (see [`Diagnostic::new`]).
    pub severity: Severity,
    /// Why it was emitted; its text (`unknown-name`) is shown in JSON
    /// output and documented in the README.
    pub code: Code,
    pub message: String,
    pub span: Span,
    /// What the user can do about it, when we know.
    pub help: Option<String>,
    /// Further places that explain the message (e.g. the first definition
    /// of a duplicate), each with a short label.
    pub notes: Vec<(Span, String)>,
}

impl Diagnostic {
    /// A diagnostic with the severity of its code: a code is always an
    /// error or always a warning, so the two cannot disagree.
    pub fn new(code: Code, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: code.severity(),
            code,
            message: message.into(),
            span,
            help: None,
            notes: Vec::new(),
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_note(mut self, span: Span, label: impl Into<String>) -> Self {
        self.notes.push((span, label.into()));
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Sorts diagnostics by file and position, errors before warnings at the
/// same place, so output is stable whatever order the passes ran in.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        (a.span.file, a.span.start, a.severity, a.span.end).cmp(&(
            b.span.file,
            b.span.start,
            b.severity,
            b.span.end,
        ))
    });
}
