//! Splitting a large file at item boundaries, so that its parts parse on
//! several threads.
//!
//! pest spends a few hundred nanoseconds per token; a 10,000-rule file is
//! over a megabyte, and a reload should not wait for one core to get
//! through it. A file is cut only before a line that surely starts a new
//! item: `rule ...`, `timezone ...`, or a definition `KIND NAME = ...`. No
//! item can go on with such a line (after a rule's actions come only `,`
//! and annotations; after a definition's value only `,`, `except`, `from`,
//! `until` or a time), so each part parses to exactly the items the whole
//! file would. If any part fails, the caller parses the whole file again
//! to report its errors, so a cut in a broken place costs time, never
//! correctness.

use std::ops::Range;

/// Parts smaller than this are not worth a thread.
const SMALLEST_PART: usize = 128 * 1024;

/// Whether `text` is large enough for two parts.
pub(super) fn worth_splitting(text: &str) -> bool {
    text.len() >= 2 * SMALLEST_PART
}

/// Byte ranges covering `text`, in order, each starting at the beginning
/// of the text or of an item: at most one per thread, and one when the
/// text is small.
pub(super) fn split(text: &str, threads: usize) -> Vec<Range<usize>> {
    let parts = threads.min(text.len() / SMALLEST_PART).max(1);
    let mut ranges = Vec::with_capacity(parts);
    let mut start = 0;
    for part in 1..parts {
        let target = text.len() / parts * part;
        let Some(cut) = super::next_line_where(text, target.max(start), starts_item_for_sure)
        else {
            break;
        };
        if cut > start {
            ranges.push(start..cut);
            start = cut;
        }
    }
    ranges.push(start..text.len());
    ranges
}

/// `rule "x"`, `timezone "Zone"`, `hours office = ...`: a line that can
/// only be the first of an item (in a file that parses).
fn starts_item_for_sure(line: &str) -> bool {
    let mut words = line.split_ascii_whitespace();
    let Some(first) = words.next() else {
        return false;
    };
    // Keywords are case-insensitive; `rule` and `timezone` cannot appear
    // anywhere else than at the start of an item.
    if first.eq_ignore_ascii_case("rule") || first.eq_ignore_ascii_case("timezone") {
        return line.starts_with(first);
    }
    let definition = ["number", "hours", "holidays", "agent", "team"]
        .iter()
        .any(|kind| first.eq_ignore_ascii_case(kind));
    if !definition || !line.starts_with(first) {
        return false;
    }
    // `team sales = "Sales"` but not `team sales` (a transfer target on a
    // line of its own) nor `number == main` (a test).
    let Some(name) = words.next() else {
        return false;
    };
    let is_name = |word: &str| {
        word.bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
            && word
                .bytes()
                .next()
                .is_some_and(|byte| byte.is_ascii_alphabetic() || byte == b'_')
    };
    match name.split_once('=') {
        Some((name, _)) => is_name(name),
        None => {
            is_name(name)
                && words
                    .next()
                    .is_some_and(|word| word.starts_with('=') && !word.starts_with("=="))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_lines() {
        for line in [
            "rule \"vip\"",
            "RULE \"vip\" when always keep",
            "timezone \"Europe/Paris\"",
            "hours office = mon-fri 8-18",
            "team sales=\"Sales\"",
            "number main =1234",
        ] {
            assert!(starts_item_for_sure(line), "{line}");
        }
        for line in [
            "  rule \"indented lines are left alone\"",
            "when always keep",
            "number == main and caller exists",
            "team sales",
            "team sales ringing random",
            "agent, team sales",
            "number in [main, paris]",
            "# rule \"a comment\"",
            "\"rule\"",
            "",
        ] {
            assert!(!starts_item_for_sure(line), "{line}");
        }
    }

    #[test]
    fn parts_cover_the_text_and_start_at_items() {
        let mut text = String::new();
        while text.len() < 3 * SMALLEST_PART {
            text.push_str("rule \"r\"\nwhen number == main\ntransfer to team sales\n");
            text.push_str("number main = 1\n");
        }
        let ranges = split(&text, 3);
        assert_eq!(ranges.len(), 3);
        assert_eq!(ranges.first().map(|r| r.start), Some(0));
        assert_eq!(ranges.last().map(|r| r.end), Some(text.len()));
        for pair in ranges.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            assert_eq!(a.end, b.start);
            let line = &text[b.start..];
            assert!(
                line.starts_with("rule") || line.starts_with("number main ="),
                "{line:.20}"
            );
        }
    }
}
