//! The canonical layout of a rules file (`switchboard fmt`).
//!
//! A parsed [`ast::File`] and its text go in, the same rules in one layout
//! come out:
//! - keywords in lower case, single spaces between tokens, times as `HH:MM`,
//!   dates as `YYYY-MM-DD`, days by their short names (`mon-fri`);
//! - the `=` of consecutive definitions of the same kind aligned (a blank
//!   line or another item ends the block), and their trailing comments too;
//! - named rules as `rule "x"` / `when ...` / action / `tag`/`comment` lines,
//!   with one blank line between rules; a one-line unnamed rule stays on one
//!   line, and consecutive one-line rules keep the author's grouping (a
//!   list of one-liners need not be spaced out);
//! - a condition, a transfer list, an hours or holidays definition that the
//!   author wrote over several lines keeps one operand, target, window or
//!   entry per line; so does a condition too wide for one line (an `and`
//!   chain inside a broken `or` chain is broken too, indented one level
//!   deeper); everything else goes on one line;
//! - blank lines between other items kept (at most one), none inside items.
//!
//! Comments stay where they belong: a comment after code stays at the end of
//! the line that prints that code; a comment on its own line stays on its
//! own line, before the code that followed it. When two trailing comments end
//! up on one printed line (a one-part definition split over lines), they are
//! joined on it.
//!
//! It must not change meaning: the output parses to the same syntax tree
//! (spans aside), and formatting it again changes nothing. It is pure (text
//! in, text out) and never decides whether rules are valid beyond syntax.

use std::ops::Range;

use super::ast::{
    self, Annotation, DateLit, DayRange, Definition, DefinitionValue, Expr, ExprKind, HolidayDate,
    HolidayEntry, HolidaySpec, HoursRef, HoursSpec, IdOrText, Item, Operand, PartDay,
    RoutingAction, Target, TargetRef, Test, TimeOfDay, ValueKind, Window,
};
use super::diagnostic::Diagnostic;
use super::parse::parse_file;
use super::source::{display_width, SourceFile};
use super::span::{FileId, Span, Spanned};

/// Formats one rules file. A file with syntax errors is not formatted: its
/// diagnostics are returned instead.
pub fn format_source(file: &SourceFile) -> Result<String, Vec<Diagnostic>> {
    let ast = parse_file(file, FileId(0))?;
    Ok(format_file(&ast, &file.text))
}

/// Formats a parsed file. `text` must be the text `file` was parsed from:
/// comments and the author's line breaks are read from it.
pub fn format_file(file: &ast::File, text: &str) -> String {
    let mut comment_ends: Vec<(usize, usize)> = file
        .comments
        .iter()
        .map(|comment| (comment.span.end as usize, comment.span.start as usize))
        .collect();
    comment_ends.sort_unstable();
    Formatter { text, comment_ends }.run(file)
}

/// A condition line wider than this (indent included) is broken at its
/// top-level `and` / `or`, one operand per line: a chain of a thousand
/// terms reads as a list, not as one line of thousands of columns. Wide
/// enough that a condition a person writes on one line stays there.
const WIDEST_CONDITION: usize = 120;

/// One printed line of an item.
#[derive(Debug)]
struct Line {
    /// Spaces before `text`.
    indent: usize,
    text: String,
    /// The source bytes this line prints. The lines of an item cover its
    /// span without gaps, in order, so any position inside an item belongs
    /// to exactly one line.
    anchor: Range<usize>,
    /// Own-line comments printed just before this line.
    leading: Vec<String>,
    /// Comments printed at the end of this line.
    trailing: Vec<String>,
    /// Where trailing comments start (aligned in a definition block), else
    /// two spaces after the text.
    comment_column: Option<usize>,
}

impl Line {
    fn new(indent: usize, text: String, anchor: Range<usize>) -> Line {
        Line {
            indent,
            text,
            anchor,
            leading: Vec::new(),
            trailing: Vec::new(),
            comment_column: None,
        }
    }

    fn width(&self) -> usize {
        self.indent + display_width(&self.text)
    }
}

/// The printed form of one top-level item.
#[derive(Debug)]
struct Block {
    kind: Kind,
    range: Range<usize>,
    lines: Vec<Line>,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Timezone,
    /// A definition: its keyword and name, printed (padded) before the
    /// first line's text once the block's alignment is known.
    Definition {
        keyword: &'static str,
        name: String,
    },
    Rule,
}

/// A top-level piece of output: an item or an own-line comment between items.
#[derive(Debug)]
enum Entry {
    Comment { text: String, range: Range<usize> },
    Block(usize),
}

struct Formatter<'t> {
    text: &'t str,
    /// `(end, start)` of every comment, sorted by end.
    comment_ends: Vec<(usize, usize)>,
}

impl Formatter<'_> {
    /// Where the code of a span ends. The parser's spans may run on over
    /// the whitespace and comments that follow the last token; those
    /// belong to whatever comes next.
    fn code_end(&self, span: Span) -> usize {
        let start = span.start as usize;
        let mut end = span.end as usize;
        loop {
            let trimmed = self
                .text
                .get(start..end)
                .map_or(start, |code| start + code.trim_end().len());
            let comment = self
                .comment_ends
                .binary_search_by_key(&trimmed, |&(end, _)| end)
                .ok()
                .and_then(|at| self.comment_ends.get(at))
                .map(|&(_, comment_start)| comment_start)
                .filter(|&comment_start| comment_start >= start);
            match comment {
                Some(comment_start) => end = comment_start,
                None => return trimmed,
            }
        }
    }

    /// The code of a span, trailing whitespace and comments left out.
    fn code(&self, span: Span) -> Range<usize> {
        span.start as usize..self.code_end(span)
    }

    fn run(&self, file: &ast::File) -> String {
        let mut blocks: Vec<Block> = file.items.iter().map(|item| self.block(item)).collect();
        let top_comments = self.place_comments(file, &mut blocks);
        let entries = merge_entries(&blocks, top_comments);
        let blank_before = self.blank_lines(&entries, &blocks);
        align_definitions(&entries, &blank_before, &mut blocks);
        emit(&entries, &blank_before, &blocks)
    }

    // ------------------------------------------------------------ items

    fn block(&self, item: &Item) -> Block {
        match item {
            Item::Timezone(zone) => {
                let end = self.code_end(zone.span);
                let start = self.keyword_before(zone.span.start as usize, "timezone");
                Block {
                    kind: Kind::Timezone,
                    range: start..end,
                    lines: vec![Line::new(
                        0,
                        format!("timezone {}", quote(&zone.node)),
                        start..end,
                    )],
                }
            }
            Item::Definition(definition) => self.definition(definition),
            Item::Rule(rule) => self.rule(rule),
        }
    }

    /// The start of `keyword` written before `offset` (only whitespace and
    /// comments can stand between them).
    fn keyword_before(&self, offset: usize, keyword: &str) -> usize {
        self.text
            .get(..offset)
            .map(str::to_ascii_lowercase)
            .and_then(|before| before.rfind(keyword))
            .unwrap_or(offset)
    }

    /// Whether the source text of `range` spans several lines.
    fn spans_lines(&self, range: Range<usize>) -> bool {
        self.text.get(range).is_some_and(|text| text.contains('\n'))
    }

    fn definition(&self, definition: &Definition) -> Block {
        let range = self.code(definition.span);
        // Each part with the span of its source.
        let (parts, value_span): (Vec<(String, Span)>, Span) = match &definition.value {
            DefinitionValue::Number(value)
            | DefinitionValue::Agent(value)
            | DefinitionValue::Team(value) => {
                (vec![(id_or_text(value), value.span())], value.span())
            }
            DefinitionValue::Hours(spec) => (hours_parts(spec), spec.span),
            DefinitionValue::Holidays(spec) => (holiday_parts(spec), spec.span),
        };
        let lines = if parts.len() > 1 && self.spans_lines(self.code(value_span)) {
            let count = parts.len();
            let mut cursor = range.start;
            parts
                .into_iter()
                .enumerate()
                .map(|(index, (text, span))| {
                    let last = index + 1 == count;
                    let end = if last {
                        range.end
                    } else {
                        self.code_end(span).max(cursor)
                    };
                    let text = if last { text } else { format!("{text},") };
                    let line = Line::new(0, text, cursor..end);
                    cursor = end;
                    line
                })
                .collect()
        } else {
            let text = parts
                .into_iter()
                .map(|(text, _)| text)
                .collect::<Vec<_>>()
                .join(", ");
            vec![Line::new(0, text, range.clone())]
        };
        Block {
            kind: Kind::Definition {
                keyword: definition.value.keyword(),
                name: definition.name.node.clone(),
            },
            range,
            lines,
        }
    }

    fn rule(&self, rule: &ast::Rule) -> Block {
        let range = self.code(rule.span);
        let mut lines = Vec::new();
        let mut cursor = range.start;
        let mut push = |lines: &mut Vec<Line>, indent: usize, text: String, end: usize| {
            let end = end.max(cursor);
            lines.push(Line::new(indent, text, cursor..end));
            cursor = end;
        };

        if let Some(name) = &rule.name {
            push(
                &mut lines,
                0,
                format!("rule {}", quote(&name.node)),
                self.code_end(name.span),
            );
        }
        let condition = self.condition_lines(&rule.condition);
        let action = self.decision_lines(&rule.decision);
        let decision_end = match &rule.decision {
            RoutingAction::Transfer { span, .. } | RoutingAction::Keep(span) => {
                self.code_end(*span)
            }
        };
        let one_line = rule.name.is_none()
            && condition.len() == 1
            && action.len() == 1
            && !self.spans_lines(range.start..decision_end);
        if one_line {
            let (_, when, _) = condition.into_iter().next().unwrap_or_default();
            let (_, act, end) = action.into_iter().next().unwrap_or_default();
            push(&mut lines, 0, format!("{when} {act}"), end);
        } else {
            for (indent, text, end) in condition {
                push(&mut lines, indent, text, end);
            }
            for (indent, text, end) in action {
                push(&mut lines, indent, text, end);
            }
        }
        for annotation in &rule.annotations {
            let (keyword, text) = match annotation {
                Annotation::Tag(text) => ("tag", text),
                Annotation::Comment(text) => ("comment", text),
            };
            push(
                &mut lines,
                0,
                format!("{keyword} {}", quote(&text.node)),
                self.code_end(text.span),
            );
        }
        if let Some(last) = lines.last_mut() {
            last.anchor.end = last.anchor.end.max(range.end);
        }
        Block {
            kind: Kind::Rule,
            range,
            lines,
        }
    }

    /// `when A` alone, or `when A` / `and B` / `and C` when the author broke
    /// a top-level `and`/`or` chain over several lines or when it is wider
    /// than [`WIDEST_CONDITION`]; an `and` chain inside such an `or` chain
    /// is broken the same way, one level deeper. Each entry has its indent
    /// and the source offset where its code ends.
    fn condition_lines(&self, condition: &Expr) -> Vec<(usize, String, usize)> {
        let mut lines = Vec::new();
        self.chain_lines(condition, ("when", 0), 2, &mut lines);
        lines
    }

    /// The lines of `condition` after `lead` (a keyword and its indent);
    /// the second and later operands of a broken chain start with their
    /// operator, indented by `continuation`. Recurses only from an `or`
    /// into an `and` chain: every other operand prints on one line.
    fn chain_lines(
        &self,
        condition: &Expr,
        (keyword, indent): (&str, usize),
        continuation: usize,
        lines: &mut Vec<(usize, String, usize)>,
    ) {
        let mut text = format!("{keyword} ");
        write_expr(&mut text, condition);
        let (operands, operator) = match &condition.kind {
            ExprKind::Or(operands) => (operands, "or"),
            ExprKind::And(operands) => (operands, "and"),
            _ => {
                lines.push((indent, text, self.code_end(condition.span)));
                return;
            }
        };
        let fits = indent + display_width(&text) <= WIDEST_CONDITION;
        if fits && !self.spans_lines(self.code(condition.span)) {
            lines.push((indent, text, self.code_end(condition.span)));
            return;
        }
        for (index, operand) in operands.iter().enumerate() {
            let lead = if index == 0 {
                (keyword, indent)
            } else {
                (operator, continuation)
            };
            self.chain_lines(operand, lead, continuation + 2, lines);
        }
    }

    /// `keep`, `transfer to A, B`, or one target per line when the author
    /// wrote the list over several lines: (indent, text, source end).
    fn decision_lines(&self, decision: &RoutingAction) -> Vec<(usize, String, usize)> {
        const TRANSFER_TO: &str = "transfer to ";
        match decision {
            RoutingAction::Keep(span) => vec![(0, "keep".to_owned(), self.code_end(*span))],
            RoutingAction::Transfer { targets, span } => {
                let printed: Vec<String> = targets.iter().map(|t| self.target(t)).collect();
                if targets.len() < 2 || !self.spans_lines(self.code(*span)) {
                    return vec![(
                        0,
                        format!("{TRANSFER_TO}{}", printed.join(", ")),
                        self.code_end(*span),
                    )];
                }
                let count = printed.len();
                printed
                    .into_iter()
                    .zip(targets)
                    .enumerate()
                    .map(|(index, (text, target))| {
                        let comma = if index + 1 == count { "" } else { "," };
                        if index == 0 {
                            (
                                0,
                                format!("{TRANSFER_TO}{text}{comma}"),
                                self.code_end(target.span),
                            )
                        } else {
                            (
                                TRANSFER_TO.len(),
                                format!("{text}{comma}"),
                                self.code_end(target.span),
                            )
                        }
                    })
                    .collect()
            }
        }
    }

    /// A transfer target; `team sales` keeps its `team` when it was written
    /// (the tree says only `sales`, the text says which).
    fn target(&self, target: &Target) -> String {
        let mut text = target_ref(&target.kind);
        if let Some(ringing) = &target.ringing {
            text.push_str(" ringing ");
            text.push_str(ringing.node.as_str());
        }
        text
    }

    // ------------------------------------------------------------ comments

    /// Attaches each comment to the line it belongs to, and returns the
    /// own-line comments that stand between items (or at the end).
    fn place_comments(
        &self,
        file: &ast::File,
        blocks: &mut [Block],
    ) -> Vec<(String, Range<usize>)> {
        // Every line of every block, in source order, by where it ends.
        let index: Vec<(usize, usize, usize)> = blocks
            .iter()
            .enumerate()
            .flat_map(|(b, block)| {
                block
                    .lines
                    .iter()
                    .enumerate()
                    .map(move |(l, line)| (line.anchor.end, b, l))
            })
            .collect();
        let line_at = |offset: usize| {
            let at = index.partition_point(|&(end, _, _)| end <= offset);
            index.get(at).map(|&(_, b, l)| (b, l))
        };

        let mut top = Vec::new();
        for comment in &file.comments {
            let range = comment.span.range();
            let start = range.start;
            let line_start = self
                .text
                .get(..start)
                .and_then(|before| before.rfind('\n'))
                .map_or(0, |newline| newline + 1);
            let code = self.text.get(line_start..start).map_or("", str::trim_end);
            // A list separator at the end of a line belongs with the code
            // before it: `2026-12-25,  # Christmas` is about `2026-12-25`.
            let code = match code.trim_end_matches(|c: char| c == ',' || c.is_whitespace()) {
                "" => code,
                trimmed => trimmed,
            };
            let text = comment.node.trim_end().to_owned();
            if code.trim_start().is_empty() {
                // On its own line: before the code that follows it.
                match line_at(start) {
                    Some((b, l)) => {
                        let block = blocks.get_mut(b);
                        match block {
                            Some(block) if start >= block.range.start || l > 0 => {
                                if let Some(line) = block.lines.get_mut(l) {
                                    line.leading.push(text);
                                }
                            }
                            _ => top.push((text, range)),
                        }
                    }
                    None => top.push((text, range)),
                }
            } else {
                // After code: at the end of the line printing that code.
                let last_code = line_start + code.len() - 1;
                match line_at(last_code) {
                    Some((b, l)) => {
                        if let Some(line) =
                            blocks.get_mut(b).and_then(|block| block.lines.get_mut(l))
                        {
                            line.trailing.push(text);
                        }
                    }
                    None => top.push((text, range)),
                }
            }
        }
        top
    }

    // ------------------------------------------------------------ blank lines

    /// Whether a blank line goes before each entry: where the author left
    /// one (several count as one), and always around rules (a rule's own
    /// comments, directly above it, stay with it).
    fn blank_lines(&self, entries: &[Entry], blocks: &[Block]) -> Vec<bool> {
        let range = |entry: &Entry| match entry {
            Entry::Comment { range, .. } => range.clone(),
            Entry::Block(b) => blocks.get(*b).map_or(0..0, |block| block.range.clone()),
        };
        let blank_in_source = |a: &Entry, b: &Entry| {
            let (end, start) = (range(a).end, range(b).start);
            self.text
                .get(end..start.max(end))
                .is_some_and(|gap| gap.matches('\n').count() >= 2)
        };
        let mut blank: Vec<bool> = std::iter::once(false)
            .chain(entries.windows(2).map(|pair| match pair {
                [a, b] => blank_in_source(a, b),
                _ => false,
            }))
            .collect();
        let is_rule = |entry: Option<&Entry>| matches!(entry, Some(Entry::Block(b)) if blocks.get(*b).is_some_and(|block| block.kind == Kind::Rule));
        // A rule on one line (no comment lines either): a list of these
        // reads best as the author grouped it.
        let is_compact = |entry: Option<&Entry>| match entry {
            Some(Entry::Block(b)) => blocks.get(*b).is_some_and(|block| {
                block.kind == Kind::Rule
                    && matches!(block.lines.as_slice(), [line] if line.leading.is_empty())
            }),
            _ => false,
        };
        for (at, entry) in entries.iter().enumerate() {
            if !is_rule(Some(entry)) {
                continue;
            }
            let compact = is_compact(Some(entry));
            let mut first = at;
            while first > 0 {
                let (Some(previous), Some(current)) = (entries.get(first - 1), entries.get(first))
                else {
                    break;
                };
                if matches!(previous, Entry::Comment { .. }) && !blank_in_source(previous, current)
                {
                    first -= 1;
                } else {
                    break;
                }
            }
            let after_compact =
                first == at && compact && is_compact(entries.get(at.wrapping_sub(1)));
            if first > 0 && !after_compact {
                if let Some(flag) = blank.get_mut(first) {
                    *flag = true;
                }
            }
            let before_compact = compact && is_compact(entries.get(at + 1));
            if !before_compact {
                if let Some(flag) = blank.get_mut(at + 1) {
                    *flag = true;
                }
            }
        }
        blank
    }
}

/// Items and top-level comments in source order.
fn merge_entries(blocks: &[Block], comments: Vec<(String, Range<usize>)>) -> Vec<Entry> {
    let mut entries = Vec::with_capacity(blocks.len() + comments.len());
    let mut comments = comments.into_iter().peekable();
    for (b, block) in blocks.iter().enumerate() {
        while let Some((text, range)) =
            comments.next_if(|(_, range)| range.start < block.range.start)
        {
            entries.push(Entry::Comment { text, range });
        }
        entries.push(Entry::Block(b));
    }
    entries.extend(comments.map(|(text, range)| Entry::Comment { text, range }));
    entries
}

/// Pads the names of consecutive definitions of one kind so that their `=`
/// line up, indents their continuation lines under the first value, and
/// aligns their trailing comments.
fn align_definitions(entries: &[Entry], blank_before: &[bool], blocks: &mut [Block]) {
    let mut at = 0;
    while at < entries.len() {
        let Some(keyword) = definition_keyword(entries.get(at), blocks) else {
            at += 1;
            continue;
        };
        // The run: this definition, then comments and definitions of the
        // same kind, with no blank line in between.
        let mut run = vec![at];
        let mut next = at + 1;
        while next < entries.len() && !blank_before.get(next).copied().unwrap_or(true) {
            match entries.get(next) {
                Some(Entry::Comment { .. }) => next += 1,
                entry @ Some(Entry::Block(_))
                    if definition_keyword(entry, blocks) == Some(keyword) =>
                {
                    run.push(next);
                    next += 1;
                }
                _ => break,
            }
        }
        let members: Vec<usize> = run
            .iter()
            .filter_map(|&e| match entries.get(e) {
                Some(Entry::Block(b)) => Some(*b),
                _ => None,
            })
            .collect();
        let name_width = members
            .iter()
            .filter_map(|&b| match blocks.get(b).map(|block| &block.kind) {
                Some(Kind::Definition { name, .. }) => Some(display_width(name)),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        for &b in &members {
            let Some(block) = blocks.get_mut(b) else {
                continue;
            };
            let Kind::Definition { keyword, name } = &block.kind else {
                continue;
            };
            let pad = name_width.saturating_sub(display_width(name));
            let head = format!("{keyword} {name}{} = ", " ".repeat(pad));
            let head_width = display_width(&head);
            for (index, line) in block.lines.iter_mut().enumerate() {
                if index == 0 {
                    line.text = format!("{head}{}", line.text);
                } else {
                    line.indent = head_width;
                }
            }
        }
        let column = members
            .iter()
            .filter_map(|&b| blocks.get(b))
            .flat_map(|block| block.lines.iter())
            .filter(|line| !line.trailing.is_empty())
            .map(Line::width)
            .max();
        if let Some(column) = column {
            for &b in &members {
                if let Some(block) = blocks.get_mut(b) {
                    for line in block.lines.iter_mut().filter(|l| !l.trailing.is_empty()) {
                        line.comment_column = Some(column + 2);
                    }
                }
            }
        }
        at = next.max(at + 1);
    }
}

fn definition_keyword(entry: Option<&Entry>, blocks: &[Block]) -> Option<&'static str> {
    match entry {
        Some(Entry::Block(b)) => match blocks.get(*b).map(|block| &block.kind) {
            Some(Kind::Definition { keyword, .. }) => Some(keyword),
            _ => None,
        },
        _ => None,
    }
}

fn emit(entries: &[Entry], blank_before: &[bool], blocks: &[Block]) -> String {
    let mut out = String::new();
    for (at, entry) in entries.iter().enumerate() {
        if at > 0 && blank_before.get(at).copied().unwrap_or(false) {
            out.push('\n');
        }
        match entry {
            Entry::Comment { text, .. } => {
                out.push_str(text);
                out.push('\n');
            }
            Entry::Block(b) => {
                for line in blocks
                    .get(*b)
                    .map_or(&[][..], |block| block.lines.as_slice())
                {
                    for comment in &line.leading {
                        push_indent(&mut out, line.indent);
                        out.push_str(comment);
                        out.push('\n');
                    }
                    push_indent(&mut out, line.indent);
                    out.push_str(&line.text);
                    if !line.trailing.is_empty() {
                        let column = line.comment_column.unwrap_or(line.width() + 2);
                        push_indent(&mut out, column.saturating_sub(line.width()).max(1));
                        out.push_str(&line.trailing.join("  "));
                    }
                    out.push('\n');
                }
            }
        }
    }
    out
}

fn push_indent(out: &mut String, width: usize) {
    out.extend(std::iter::repeat_n(' ', width));
}

// ---------------------------------------------------------------- syntax

/// A condition on one line, appended to `out`. Parentheses are printed
/// only where the author wrote them (the tree keeps them): `and` binds
/// tighter than `or` and `not` tighter than both, so the tree's shape
/// needs no more. One buffer for the whole condition keeps a long chain
/// linear; recursion is bounded by the nesting limit of the parser.
fn write_expr(out: &mut String, condition: &Expr) {
    match &condition.kind {
        ExprKind::Or(operands) => write_chain(out, operands, " or "),
        ExprKind::And(operands) => write_chain(out, operands, " and "),
        ExprKind::Not(inner) => {
            out.push_str("not ");
            write_expr(out, inner);
        }
        ExprKind::Group(inner) => {
            out.push('(');
            write_expr(out, inner);
            out.push(')');
        }
        ExprKind::Test(test) => out.push_str(&test_text(test)),
    }
}

fn write_chain(out: &mut String, operands: &[Expr], operator: &str) {
    for (index, operand) in operands.iter().enumerate() {
        if index > 0 {
            out.push_str(operator);
        }
        write_expr(out, operand);
    }
}

fn test_text(test: &Test) -> String {
    match test {
        Test::Compare {
            subject,
            op,
            operand,
        } => match operand {
            Some(operand) => format!(
                "{} {} {}",
                subject.dotted(),
                op.node.as_str(),
                operand_text(operand)
            ),
            None => format!("{} {}", subject.dotted(), op.node.as_str()),
        },
        Test::Hours {
            outside,
            hours,
            zone,
        } => {
            let verb = if *outside { "outside" } else { "within" };
            let hours = match hours {
                HoursRef::Named(name) => format!(" {}", name.node),
                HoursRef::Inline(spec) => format!("({})", hours_inline(spec)),
            };
            format!("{verb} hours{hours}{}", zone_text(zone.as_ref()))
        }
        Test::Holidays { holidays, zone } => {
            format!(
                "during holidays {}{}",
                holidays.node,
                zone_text(zone.as_ref())
            )
        }
        Test::Availability { who, available } => {
            let state = if *available {
                "available"
            } else {
                "unavailable"
            };
            format!("{} is {state}", target_ref(who))
        }
        Test::Always => "always".to_owned(),
    }
}

fn zone_text(zone: Option<&Spanned<String>>) -> String {
    zone.map(|zone| format!(" in {}", quote(&zone.node)))
        .unwrap_or_default()
}

fn operand_text(operand: &Operand) -> String {
    match operand {
        Operand::Value(value) => value_text(&value.node),
        Operand::List(values, _) => format!(
            "[{}]",
            values
                .iter()
                .map(|value| value_text(&value.node))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn value_text(value: &ValueKind) -> String {
    match value {
        ValueKind::Text(text) => quote(text),
        ValueKind::Integer(number) => number.to_string(),
        ValueKind::Bool(flag) => flag.to_string(),
        ValueKind::Name(name) => name.clone(),
    }
}

fn target_ref(target: &TargetRef) -> String {
    match target {
        TargetRef::Phone(number) => quote(&number.node),
        TargetRef::Name(name) => name.node.clone(),
        TargetRef::ContactAgent(_) => "agent".to_owned(),
        TargetRef::LastAgent(_) => "last_agent".to_owned(),
        TargetRef::UserId(id) => format!("user {}", id.node),
        TargetRef::UserEmail(email) => format!("agent {}", quote(&email.node)),
        TargetRef::TeamName(name) => format!("team {}", quote(&name.node)),
        TargetRef::TeamAlias(name) => format!("team {}", name.node),
        TargetRef::TeamId(id) => format!("team {}", id.node),
    }
}

fn id_or_text(value: &IdOrText) -> String {
    match value {
        IdOrText::Id(id) => id.node.to_string(),
        IdOrText::Text(text) => quote(&text.node),
    }
}

/// An hours spec on one line (inline `hours(...)`).
fn hours_inline(spec: &HoursSpec) -> String {
    hours_parts(spec)
        .into_iter()
        .map(|(text, _)| text)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One part per window, with its span; the
/// `except holidays` clause goes with the last window.
fn hours_parts(spec: &HoursSpec) -> Vec<(String, Span)> {
    let mut parts: Vec<(String, Span)> = spec.windows.iter().map(|w| (window(w), w.span)).collect();
    if !spec.except.is_empty() {
        let names: Vec<&str> = spec.except.iter().map(|name| name.node.as_str()).collect();
        let clause = format!("except holidays {}", names.join(", "));
        match parts.last_mut() {
            Some((text, end)) => {
                text.push(' ');
                text.push_str(&clause);
                *end = spec.span;
            }
            None => parts.push((clause, spec.span)),
        }
    }
    parts
}

fn window(window: &Window) -> String {
    let days: Vec<String> = window.days.iter().map(day_range).collect();
    format!(
        "{} {}-{}",
        days.join(","),
        time(window.start.node),
        time(window.end.node)
    )
}

fn day_range(range: &DayRange) -> String {
    match &range.last {
        Some(last) => format!(
            "{}-{}",
            range.first.node.short_name(),
            last.node.short_name()
        ),
        None => range.first.node.short_name().to_owned(),
    }
}

fn holiday_parts(spec: &HolidaySpec) -> Vec<(String, Span)> {
    spec.entries
        .iter()
        .map(|entry| (holiday_entry(entry), entry.span))
        .collect()
}

fn holiday_entry(entry: &HolidayEntry) -> String {
    let when = match &entry.when {
        HolidayDate::Date(date) => date_text(date.node),
        HolidayDate::Range(first, last) => {
            format!("{}..{}", date_text(first.node), date_text(last.node))
        }
        HolidayDate::Yearly { month, day } => format!("every {:02}-{:02}", month.node, day.node),
    };
    match &entry.part {
        None => when,
        Some(PartDay::From(start)) => format!("{when} from {}", time(start.node)),
        Some(PartDay::Until(end)) => format!("{when} until {}", time(end.node)),
        Some(PartDay::Between(start, end)) => {
            format!("{when} {}-{}", time(start.node), time(end.node))
        }
    }
}

fn time(time: TimeOfDay) -> String {
    format!("{:02}:{:02}", time.hour, time.minute)
}

fn date_text(date: DateLit) -> String {
    format!("{:04}-{:02}-{:02}", date.year, date.month, date.day)
}

/// A double-quoted string with `"` and `\` escaped (the only escapes).
fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn fmt(text: &str) -> String {
        let out = format_source(&SourceFile::new("t.rules", text)).unwrap();
        let again = format_source(&SourceFile::new("t.rules", out.as_str())).unwrap();
        assert_eq!(again, out, "formatting is not idempotent");
        out
    }

    #[test]
    fn keywords_spacing_times_and_days() {
        assert_eq!(
            fmt("HOURS  office=Monday-FRI 8-18 ,sat 10:00-17:00   EXCEPT Holidays bank\n"),
            "hours office = mon-fri 08:00-18:00, sat 10:00-17:00 except holidays bank\n"
        );
        assert_eq!(
            fmt("holidays bank=2026-12-25,2026-1-1..2026-1-2 ,every 5-1,2026-12-24 FROM 14:00,2026-12-31 until 12, 2026-11-11 9-12"),
            "holidays bank = 2026-12-25, 2026-01-01..2026-01-02, every 05-01, 2026-12-24 from 14:00, 2026-12-31 until 12:00, 2026-11-11 09:00-12:00\n"
        );
    }

    #[test]
    fn definitions_of_one_kind_align_their_equals_and_comments() {
        let text = "\
number main = 1234 # the public line
number support=\"+33 1 76 36 06 95\"  # support
agent alice = \"alice@example.com\"
team  sales = \"Sales\"

number other = 5
";
        assert_eq!(
            fmt(text),
            "\
number main    = 1234                 # the public line
number support = \"+33 1 76 36 06 95\"  # support
agent alice = \"alice@example.com\"
team sales = \"Sales\"

number other = 5
"
        );
    }

    #[test]
    fn named_rules_take_one_line_per_part_and_a_blank_line_between() {
        let text = "rule \"a\" when caller exists transfer to \"+18001234567\" tag \"x\"\nrule \"b\" WHEN always KEEP\n";
        assert_eq!(
            fmt(text),
            "\
rule \"a\"
when caller exists
transfer to \"+18001234567\"
tag \"x\"

rule \"b\"
when always
keep
"
        );
    }

    #[test]
    fn one_line_unnamed_rules_stay_on_one_line() {
        assert_eq!(
            fmt("when  number==main and outside hours(mon-fri 8-18,sat-sun 10-17) transfer to \"+18001234567\"\n"),
            "when number == main and outside hours(mon-fri 08:00-18:00, sat-sun 10:00-17:00) transfer to \"+18001234567\"\n"
        );
        assert_eq!(
            fmt("when caller exists\n  keep\n"),
            "when caller exists\nkeep\n"
        );
    }

    #[test]
    fn consecutive_one_line_rules_keep_their_grouping() {
        let text = "\
when caller exists keep
when always keep

when always keep
rule \"x\" when always keep
when always keep
";
        assert_eq!(
            fmt(text),
            "\
when caller exists keep
when always keep

when always keep

rule \"x\"
when always
keep

when always keep
"
        );
    }

    #[test]
    fn conditions_and_lists_written_over_lines_keep_one_part_per_line() {
        let text = "\
rule \"x\"
when number == main   # the public line
  and (caller exists or contact.vip == true)   # someone
    AND not last_agent exists
transfer to last_agent,   # first
   team sales ringing random  # then
";
        assert_eq!(
            fmt(text),
            "\
rule \"x\"
when number == main  # the public line
  and (caller exists or contact.vip == true)  # someone
  and not last_agent exists
transfer to last_agent,  # first
            team sales ringing random  # then
"
        );
        let holidays = "holidays bank = 2026-12-25,   # Christmas\n   2027-01-01  # New Year\nhours h = mon 8-9\n";
        assert_eq!(
            fmt(holidays),
            "holidays bank = 2026-12-25,  # Christmas\n                2027-01-01   # New Year\nhours h = mon 08:00-09:00\n"
        );
    }

    #[test]
    fn chains_too_wide_for_a_line_take_one_operand_per_line() {
        let tests: Vec<String> = (0..6)
            .map(|i| format!("contact.field_{i} == \"value {i}\""))
            .collect();
        // Five tests of 28 columns with `when` and four `or` make 161.
        let wide = format!("when {} keep\n", tests[..5].join(" or "));
        assert_eq!(
            fmt(&wide),
            "\
when contact.field_0 == \"value 0\"
  or contact.field_1 == \"value 1\"
  or contact.field_2 == \"value 2\"
  or contact.field_3 == \"value 3\"
  or contact.field_4 == \"value 4\"
keep
"
        );
        // Three make 97.
        let narrow = format!("when {} keep\n", tests[..3].join(" or "));
        assert_eq!(fmt(&narrow), narrow);
        // An `and` inside the `or` breaks one level deeper when it is too
        // wide itself; a narrow one stays whole.
        let mixed = format!(
            "when caller exists and {} or {} keep\n",
            tests[..4].join(" and "),
            tests[4..].join(" and ")
        );
        assert_eq!(
            fmt(&mixed),
            "\
when caller exists
    and contact.field_0 == \"value 0\"
    and contact.field_1 == \"value 1\"
    and contact.field_2 == \"value 2\"
    and contact.field_3 == \"value 3\"
  or contact.field_4 == \"value 4\" and contact.field_5 == \"value 5\"
keep
"
        );
    }

    #[test]
    fn an_and_written_over_lines_inside_an_or_keeps_one_operand_per_line() {
        let text = "\
when caller exists   # anyone
  or contact.vip == true AND
     contact.tier == \"gold\"  # gold
  or (contact.a == 1 and
      contact.b == 2)
keep
";
        assert_eq!(
            fmt(text),
            "\
when caller exists  # anyone
  or contact.vip == true
    and contact.tier == \"gold\"  # gold
  or (contact.a == 1 and contact.b == 2)
keep
"
        );
    }

    #[test]
    fn own_line_comments_stay_before_their_code() {
        let text = "\
# header

timezone \"Europe/Paris\"   # zone
# about rule a
rule \"a\"
# inside, before the condition
when always
keep
# the end
";
        assert_eq!(
            fmt(text),
            "\
# header

timezone \"Europe/Paris\"  # zone

# about rule a
rule \"a\"
# inside, before the condition
when always
keep

# the end
"
        );
    }

    #[test]
    fn strings_are_escaped_and_values_printed_as_written() {
        assert_eq!(
            fmt("when caller matches \"^\\\\+33\" and contact.note == \"say \\\"hi\\\"\" and contact.n in [1, TRUE, x, \"é\"] keep"),
            "when caller matches \"^\\\\+33\" and contact.note == \"say \\\"hi\\\"\" and contact.n in [1, true, x, \"é\"] keep\n"
        );
    }

    #[test]
    fn targets_of_every_kind() {
        assert_eq!(
            fmt("when always transfer to \"+1 800\", alice, agent, last_agent, user 12, AGENT \"a@b.c\", user \"d@e.f\", team \"Sales\", team 4, team sales ringing LONGEST_IDLE"),
            "when always transfer to \"+1 800\", alice, agent, last_agent, user 12, agent \"a@b.c\", agent \"d@e.f\", team \"Sales\", team 4, team sales ringing longest_idle\n"
        );
        assert_eq!(
            fmt("when alice is available and last_agent IS unavailable and not (always) keep"),
            "when alice is available and last_agent is unavailable and not (always) keep\n"
        );
    }

    #[test]
    fn two_trailing_comments_on_one_printed_line_are_joined() {
        assert_eq!(
            fmt("number main = # the id:\n  1234 # of the main line\n"),
            "number main = 1234  # the id:  # of the main line\n"
        );
    }

    #[test]
    fn empty_and_comment_only_files() {
        assert_eq!(fmt(""), "");
        assert_eq!(fmt("\n\n"), "");
        assert_eq!(fmt("# only\n\n\n# comments"), "# only\n\n# comments\n");
    }

    #[test]
    fn syntax_errors_are_returned() {
        let errors = format_source(&SourceFile::new("t.rules", "hours x = mnday 8-9")).unwrap_err();
        assert_eq!(errors.len(), 1);
    }
}
