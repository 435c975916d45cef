//! Turning diagnostics into text for people and JSON for tools.
//!
//! This is the one renderer: `switchboard check`, the server's start-up and
//! its reload logs all call [`render`], so a diagnostic reads the same
//! wherever it shows up. The text form follows rustc:
//!
//! ```text
//! error[unknown-name]: unknown hours `ofice`
//!  --> rules/main.rules:3:20
//!   |
//! 3 | when outside hours ofice transfer to "+18001234567"
//!   |                    ^^^^^
//!   = help: did you mean `office`?
//! ```
//!
//! Columns in headers and JSON are 1-based and count characters (not bytes,
//! not display cells). Caret lines are laid out in display cells instead:
//! tabs are expanded to [`TAB_WIDTH`] stops in the printed source line and
//! wide characters take two cells, so carets sit under what a terminal
//! shows. Colour is a parameter, never detected here: this module does no
//! I/O and does not know whether it writes to a terminal.

use serde::Serialize;

use super::diagnostic::{Diagnostic, Severity};
use super::source::{display_width, SourceFile, Sources, TAB_WIDTH};
use super::span::Span;

/// Renders every diagnostic, each followed by a newline, with a blank line
/// between two diagnostics. Empty input gives an empty string.
pub fn render(diagnostics: &[Diagnostic], sources: &Sources, color: bool) -> String {
    let mut out = String::new();
    for (index, diagnostic) in diagnostics.iter().enumerate() {
        if index > 0 {
            out.push('\n');
        }
        render_into(&mut out, diagnostic, sources, Style { color });
    }
    out
}

/// Renders one diagnostic (ending with a newline), for callers that log
/// diagnostics one by one.
pub fn render_one(diagnostic: &Diagnostic, sources: &Sources, color: bool) -> String {
    let mut out = String::new();
    render_into(&mut out, diagnostic, sources, Style { color });
    out
}

/// Counts in words, e.g. `2 errors, 1 warning`, `1 error`, `3 warnings`,
/// or `no errors or warnings`.
pub fn summary(diagnostics: &[Diagnostic]) -> String {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    summary_counts(errors, diagnostics.len() - errors)
}

/// [`summary`] from counts.
pub fn summary_counts(errors: usize, warnings: usize) -> String {
    let plural = |n: usize, word: &str| {
        if n == 1 {
            format!("1 {word}")
        } else {
            format!("{n} {word}s")
        }
    };
    match (errors, warnings) {
        (0, 0) => "no errors or warnings".to_owned(),
        (errors, 0) => plural(errors, "error"),
        (0, warnings) => plural(warnings, "warning"),
        (errors, warnings) => format!(
            "{}, {}",
            plural(errors, "error"),
            plural(warnings, "warning")
        ),
    }
}

/// One file of a rule set and its diagnostics, as `check --format json`
/// prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JsonFile {
    /// The file's display name, as in the rendered ` --> ` lines.
    pub path: String,
    /// In source order; empty for a clean file.
    pub diagnostics: Vec<JsonDiagnostic>,
}

/// A diagnostic with its position in lines and columns.
///
/// `line`/`column` are where the span starts; `end_line`/`end_column` the
/// position just after its last character (so an empty span has
/// `end_column == column`). All 1-based; columns count characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JsonDiagnostic {
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub help: Option<String>,
    /// Related places (e.g. the first definition of a duplicate).
    pub notes: Vec<JsonNote>,
}

/// A related place of a [`JsonDiagnostic`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JsonNote {
    /// The note's label, e.g. `first defined here`.
    pub message: String,
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

/// The diagnostics grouped per file, one entry for every file of `sources`
/// in order (files without diagnostics have an empty list), so a tool sees
/// which files were checked. Diagnostics pointing at a file that is not in
/// `sources` (which only a bug would produce) are listed under
/// `<unknown>` with zero positions rather than dropped.
pub fn to_json(diagnostics: &[Diagnostic], sources: &Sources) -> Vec<JsonFile> {
    let mut files: Vec<JsonFile> = sources
        .iter()
        .map(|(_, file)| JsonFile {
            path: file.name.clone(),
            diagnostics: Vec::new(),
        })
        .collect();
    let mut unknown = Vec::new();
    for diagnostic in diagnostics {
        let (line, column, end_line, end_column) = positions(sources, diagnostic.span);
        let json = JsonDiagnostic {
            severity: diagnostic.severity,
            code: diagnostic.code.as_str(),
            message: diagnostic.message.clone(),
            line,
            column,
            end_line,
            end_column,
            help: diagnostic.help.clone(),
            notes: diagnostic
                .notes
                .iter()
                .map(|(span, label)| {
                    let (line, column, end_line, end_column) = positions(sources, *span);
                    JsonNote {
                        message: label.clone(),
                        path: sources.file_name(span.file).to_owned(),
                        line,
                        column,
                        end_line,
                        end_column,
                    }
                })
                .collect(),
        };
        match files.get_mut(diagnostic.span.file.0 as usize) {
            Some(file) => file.diagnostics.push(json),
            None => unknown.push(json),
        }
    }
    if !unknown.is_empty() {
        files.push(JsonFile {
            path: "<unknown>".to_owned(),
            diagnostics: unknown,
        });
    }
    files
}

fn positions(sources: &Sources, span: Span) -> (usize, usize, usize, usize) {
    match sources.get(span.file) {
        Some(file) => {
            let (line, column) = file.line_col(span.start as usize);
            let (end_line, end_column) = file.line_col(span.end.max(span.start) as usize);
            (line, column, end_line, end_column)
        }
        None => (0, 0, 0, 0),
    }
}

/// ANSI styling, or none. rustc's palette: bold red errors, bold yellow
/// warnings, bold blue gutter and secondary marks.
#[derive(Debug, Clone, Copy)]
struct Style {
    color: bool,
}

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[1;33m";
const BLUE: &str = "\x1b[1;34m";

impl Style {
    fn paint(self, out: &mut String, code: &str, text: &str) {
        if self.color && !text.is_empty() {
            out.push_str(code);
            out.push_str(text);
            out.push_str(RESET);
        } else {
            out.push_str(text);
        }
    }

    fn severity_code(severity: Severity) -> &'static str {
        match severity {
            Severity::Error => RED,
            Severity::Warning => YELLOW,
        }
    }
}

/// What a snippet underlines with: the primary span gets the severity's
/// `^`, notes get a blue `-`.
#[derive(Debug, Clone, Copy)]
struct Mark {
    glyph: char,
    code: &'static str,
}

fn render_into(out: &mut String, diagnostic: &Diagnostic, sources: &Sources, style: Style) {
    let severity_code = Style::severity_code(diagnostic.severity);
    let title = format!("{}[{}]", diagnostic.severity.as_str(), diagnostic.code);
    style.paint(out, severity_code, &title);
    style.paint(out, BOLD, &format!(": {}", diagnostic.message));
    out.push('\n');

    // One gutter width for the whole diagnostic, so every `|` lines up.
    let width = std::iter::once(diagnostic.span)
        .chain(diagnostic.notes.iter().map(|(span, _)| *span))
        .filter_map(|span| {
            sources
                .get(span.file)
                .map(|file| file.line_col(span.start as usize).0)
        })
        .max()
        .map_or(1, digits);
    let pad = " ".repeat(width);

    match sources.get(diagnostic.span.file) {
        Some(file) => snippet(
            out,
            style,
            &pad,
            file,
            diagnostic.span,
            Mark {
                glyph: '^',
                code: severity_code,
            },
            None,
        ),
        None => {
            style.paint(out, BLUE, &format!("{pad}-->"));
            out.push_str(&format!(" {}\n", sources.file_name(diagnostic.span.file)));
        }
    }

    for (span, label) in &diagnostic.notes {
        match sources.get(span.file) {
            Some(file) => {
                style.paint(out, BLUE, &format!("{pad} |"));
                out.push('\n');
                snippet(
                    out,
                    style,
                    &pad,
                    file,
                    *span,
                    Mark {
                        glyph: '-',
                        code: BLUE,
                    },
                    Some(label),
                );
            }
            None => annotation(out, style, &pad, "note", label),
        }
    }
    if let Some(help) = &diagnostic.help {
        annotation(out, style, &pad, "help", help);
    }
}

/// ` --> file:line:col`, a blank gutter line, the source line and the
/// underline (with an optional label after it).
fn snippet(
    out: &mut String,
    style: Style,
    pad: &str,
    file: &SourceFile,
    span: Span,
    mark: Mark,
    label: Option<&str>,
) {
    let start = span.start as usize;
    let end = (span.end as usize).max(start);
    let (line, column) = file.line_col(start);
    let (end_line, end_column) = file.line_col(end);

    style.paint(out, BLUE, &format!("{pad}-->"));
    out.push_str(&format!(" {}:{line}:{column}\n", file.name));
    style.paint(out, BLUE, &format!("{pad} |"));
    out.push('\n');

    let text = file.line_text(line);
    let expanded = expand_tabs(text);
    style.paint(out, BLUE, &format!("{line:>width$} |", width = pad.len()));
    if !expanded.trim_end().is_empty() {
        out.push(' ');
        out.push_str(expanded.trim_end());
    }
    out.push('\n');

    // Display cells before the span and under it. A span running past its
    // line is underlined to the end of that line.
    let before: String = text.chars().take(column - 1).collect();
    let under_chars = if end_line == line {
        end_column.saturating_sub(column)
    } else {
        usize::MAX
    };
    let under: String = text.chars().skip(column - 1).take(under_chars).collect();
    let offset = display_width(&before);
    let cells = (display_width(&format!("{before}{under}")) - offset).max(1);

    style.paint(out, BLUE, &format!("{pad} |"));
    out.push(' ');
    out.push_str(&" ".repeat(offset));
    style.paint(out, mark.code, &mark.glyph.to_string().repeat(cells));
    if let Some(label) = label.filter(|label| !label.is_empty()) {
        out.push(' ');
        style.paint(out, mark.code, label);
    }
    out.push('\n');
}

/// `  = help: text` (or `note`), continuation lines aligned under the text.
fn annotation(out: &mut String, style: Style, pad: &str, kind: &str, text: &str) {
    style.paint(out, BLUE, &format!("{pad} ="));
    out.push(' ');
    style.paint(out, BOLD, &format!("{kind}:"));
    let indent = format!("\n{pad}   {}", " ".repeat(kind.len() + 2));
    out.push(' ');
    out.push_str(&text.replace('\n', &indent));
    out.push('\n');
}

/// The line as a terminal shows it: each tab replaced by the spaces up to
/// the next [`TAB_WIDTH`] stop, measured in display cells like
/// [`display_width`].
fn expand_tabs(text: &str) -> String {
    if !text.contains('\t') {
        return text.to_owned();
    }
    let mut expanded = String::with_capacity(text.len() + TAB_WIDTH);
    for c in text.chars() {
        if c == '\t' {
            let cells = display_width(&expanded);
            expanded.push_str(&" ".repeat(TAB_WIDTH - cells % TAB_WIDTH));
        } else {
            expanded.push(c);
        }
    }
    expanded
}

fn digits(mut n: usize) -> usize {
    let mut count = 1;
    while n >= 10 {
        n /= 10;
        count += 1;
    }
    count
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use crate::lang::code::Code;
    use crate::lang::span::FileId;

    /// A span over the first occurrence of `needle` in file 0.
    fn span_of(sources: &Sources, needle: &str) -> Span {
        let text = &sources.get(FileId(0)).unwrap().text;
        let start = text.find(needle).unwrap();
        Span::new(FileId(0), start, start + needle.len())
    }

    #[test]
    fn renders_the_rustc_shape() {
        let sources = Sources::single(
            "rules/main.rules",
            "hours office = mon-fri 9-17\n\nwhen outside hours ofice transfer to \"+18001234567\"\n",
        );
        let diagnostic = Diagnostic::new(
            Code::UnknownName,
            span_of(&sources, "ofice"),
            "unknown hours `ofice`",
        )
        .with_help("did you mean `office`?");
        let expected = "\
error[unknown-name]: unknown hours `ofice`
 --> rules/main.rules:3:20
  |
3 | when outside hours ofice transfer to \"+18001234567\"
  |                    ^^^^^
  = help: did you mean `office`?
";
        assert_eq!(render(&[diagnostic], &sources, false), expected);
    }

    #[test]
    fn carets_line_up_under_tabs() {
        // The header counts the tab as one character (`12` is column 17);
        // the printed line expands it to four cells, and so does the
        // padding (19 cells before the carets).
        let sources = Sources::single("t.rules", "rule \"x\"\n\twhen caller == 12 keep\n");
        let diagnostic = Diagnostic::new(Code::TypeMismatch, span_of(&sources, "12"), "wrong kind");
        let expected = "\
error[type-mismatch]: wrong kind
 --> t.rules:2:17
  |
2 |     when caller == 12 keep
  |                    ^^
";
        assert_eq!(render(&[diagnostic], &sources, false), expected);
    }

    #[test]
    fn a_tab_inside_the_span_widens_the_underline_to_its_stop() {
        let sources = Sources::single("t.rules", "ab\tcd\n");
        let diagnostic = Diagnostic::new(Code::Syntax, Span::new(FileId(0), 1, 4), "m");
        let rendered = render(&[diagnostic], &sources, false);
        // `b` is cell 1, the tab fills cells 2..4, `c` is cell 4.
        assert!(rendered.contains("1 | ab  cd\n  |  ^^^^\n"), "{rendered}");
    }

    #[test]
    fn carets_line_up_under_non_ascii_and_wide_characters() {
        let sources = Sources::single(
            "t.rules",
            "agent zoë = \"zoë@example.com\"\nteam 日本 = \"Tokyo\" x\n",
        );
        let zoe = Diagnostic::new(
            Code::UnusedDefinition,
            span_of(&sources, "zoë"),
            "unused agent",
        );
        let tokyo = Diagnostic::new(Code::Syntax, span_of(&sources, "x\n"), "stray `x`");
        // `x` on line 2 is character 19 but display cell 21 (two wide
        // characters), so the caret gets 20 cells of padding.
        let expected = "\
warning[unused-definition]: unused agent
 --> t.rules:1:7
  |
1 | agent zoë = \"zoë@example.com\"
  |       ^^^

error[syntax]: stray `x`
 --> t.rules:2:19
  |
2 | team 日本 = \"Tokyo\" x
  |                     ^
";
        let mut tokyo = tokyo;
        tokyo.span.end -= 1; // just the `x`, not the newline
        assert_eq!(render(&[zoe, tokyo.clone()], &sources, false), expected);

        let json = to_json(&[tokyo], &sources);
        let d = &json[0].diagnostics[0];
        assert_eq!((d.line, d.column, d.end_line, d.end_column), (2, 19, 2, 20));
    }

    #[test]
    fn wide_characters_get_two_carets_each() {
        let sources = Sources::single("t.rules", "team 日本 = \"Tokyo\"\n");
        let diagnostic = Diagnostic::new(Code::Syntax, span_of(&sources, "日本"), "m");
        let rendered = render(&[diagnostic], &sources, false);
        assert!(rendered.contains("  |      ^^^^\n"), "{rendered}");
    }

    #[test]
    fn a_span_past_its_line_is_underlined_to_the_end_of_the_line() {
        let sources = Sources::single("t.rules", "rule \"a\"\nwhen always\nkeep\n");
        let start = sources.get(FileId(0)).unwrap().text.find("when").unwrap();
        let diagnostic =
            Diagnostic::new(Code::UnreachableRule, Span::new(FileId(0), start, 30), "m");
        let rendered = render(&[diagnostic], &sources, false);
        assert!(
            rendered.contains("2 | when always\n  | ^^^^^^^^^^^\n"),
            "{rendered}"
        );
    }

    #[test]
    fn empty_spans_and_end_of_file_get_one_caret() {
        let sources = Sources::single("t.rules", "when always");
        let end = "when always".len();
        let diagnostic = Diagnostic::new(
            Code::Syntax,
            Span::new(FileId(0), end, end),
            "expected `keep`",
        );
        let rendered = render(std::slice::from_ref(&diagnostic), &sources, false);
        assert!(
            rendered.contains(" --> t.rules:1:12\n  |\n1 | when always\n  |            ^\n"),
            "{rendered}"
        );
        let json = to_json(&[diagnostic], &sources);
        let d = &json[0].diagnostics[0];
        assert_eq!((d.line, d.column, d.end_line, d.end_column), (1, 12, 1, 12));
    }

    #[test]
    fn gutter_follows_the_largest_line_number_and_notes_point_elsewhere() {
        let mut text = String::from("agent alice = \"a@x.io\"\n");
        for _ in 0..10 {
            text.push_str("# filler\n");
        }
        text.push_str("agent alice = \"b@x.io\"\n");
        let sources = Sources::new(vec![SourceFile::new("a.rules", text.clone())]);
        let first = text.find("alice").unwrap();
        let second = text.rfind("alice").unwrap();
        let diagnostic = Diagnostic::new(
            Code::DuplicateDefinition,
            Span::new(FileId(0), second, second + 5),
            "`alice` is defined twice",
        )
        .with_note(Span::new(FileId(0), first, first + 5), "first defined here")
        .with_help("rename one of them");
        let expected = "\
error[duplicate-definition]: `alice` is defined twice
  --> a.rules:12:7
   |
12 | agent alice = \"b@x.io\"
   |       ^^^^^
   |
  --> a.rules:1:7
   |
 1 | agent alice = \"a@x.io\"
   |       ----- first defined here
   = help: rename one of them
";
        assert_eq!(render(&[diagnostic], &sources, false), expected);
    }

    #[test]
    fn notes_in_unknown_files_use_the_note_form() {
        let sources = Sources::single("t.rules", "keep\n");
        let diagnostic = Diagnostic::new(Code::Syntax, Span::new(FileId(0), 0, 4), "m")
            .with_note(Span::new(FileId(7), 0, 1), "somewhere else");
        let expected = "\
error[syntax]: m
 --> t.rules:1:1
  |
1 | keep
  | ^^^^
  = note: somewhere else
";
        assert_eq!(render(&[diagnostic], &sources, false), expected);
    }

    #[test]
    fn colour_only_when_asked() {
        let sources = Sources::single("t.rules", "keep\n");
        let error = Diagnostic::new(Code::Syntax, Span::new(FileId(0), 0, 4), "m").with_help("h");
        let warning = Diagnostic::new(Code::UnreachableRule, Span::new(FileId(0), 0, 4), "m");
        let plain = render(&[error.clone(), warning.clone()], &sources, false);
        assert!(!plain.contains('\x1b'), "{plain:?}");
        let coloured = render(&[error, warning], &sources, true);
        assert!(
            coloured.contains("\x1b[1;31merror[syntax]\x1b[0m"),
            "{coloured:?}"
        );
        assert!(
            coloured.contains("\x1b[1;33mwarning[unreachable-rule]\x1b[0m"),
            "{coloured:?}"
        );
        assert!(coloured.contains("\x1b[1;34m  |\x1b[0m"), "{coloured:?}");
        // Stripping the escapes gives back the plain text exactly.
        let stripped = regex::Regex::new("\x1b\\[[0-9;]*m")
            .unwrap()
            .replace_all(&coloured, "");
        assert_eq!(stripped, plain);
    }

    #[test]
    fn summaries_count_in_words() {
        assert_eq!(summary_counts(0, 0), "no errors or warnings");
        assert_eq!(summary_counts(1, 0), "1 error");
        assert_eq!(summary_counts(0, 3), "3 warnings");
        assert_eq!(summary_counts(2, 1), "2 errors, 1 warning");
        let span = Span::default();
        let diagnostics = [
            Diagnostic::new(Code::Syntax, span, "m"),
            Diagnostic::new(Code::UnusedDefinition, span, "m"),
            Diagnostic::new(Code::DstGap, span, "m"),
        ];
        assert_eq!(summary(&diagnostics), "1 error, 2 warnings");
    }

    #[test]
    fn json_lists_every_file_and_counts_characters() {
        let sources = Sources::new(vec![
            SourceFile::new("a.rules", "keep\n"),
            SourceFile::new("b.rules", "# é\nwhen zoë keep\n"),
        ]);
        let text = &sources.get(FileId(1)).unwrap().text;
        let start = text.find("zoë").unwrap();
        let diagnostic = Diagnostic::new(
            Code::UnknownName,
            Span::new(FileId(1), start, start + "zoë".len()),
            "unknown name `zoë`",
        );
        let json = serde_json::to_value(to_json(&[diagnostic], &sources)).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"path": "a.rules", "diagnostics": []},
                {"path": "b.rules", "diagnostics": [{
                    "severity": "error", "code": "unknown-name", "message": "unknown name `zoë`",
                    "line": 2, "column": 6, "end_line": 2, "end_column": 9, "help": null, "notes": []
                }]}
            ])
        );
    }
}
