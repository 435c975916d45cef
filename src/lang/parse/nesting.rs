//! A limit on how deeply conditions nest.
//!
//! The parser recurses once per `(` and per `not`, and so does every later
//! walk of a condition (lowering, check, index, evaluate, explain, fmt):
//! an `and`/`or` chain is one node with a list of operands, however long,
//! so this limit is the only bound their stacks need. Without it, a file
//! holding a hundred thousand `(` would overflow the stack and abort the
//! process, a server reloading that file included. pest can check the
//! stack at every call, but that costs a fifth of the parse time; this one
//! pass over the bytes costs almost nothing.

/// Deeper than any condition a person writes, shallow enough for any
/// thread's stack: parse, check, evaluate, explain and fmt of a condition
/// this deep fit in 128 KiB in a debug build (`tests/long_chains.rs` runs
/// them on 256 KiB).
pub(super) const MAX_NESTING: usize = 64;

/// The byte offset of the first `(` or `not` that nests conditions deeper
/// than [`MAX_NESTING`], if any.
///
/// Depth counts open parentheses plus, at each open level, the run of
/// `not` that precedes the current operand (`not not (not x)` is 4 deep).
/// Text in strings and comments does not count.
pub(super) fn too_deep(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    // The `not` run of each open level, innermost last.
    let mut runs: Vec<usize> = vec![0];
    let mut depth = 0;
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'#' => {
                at = line_end(bytes, at);
                continue;
            }
            b'"' => {
                end_run(&mut runs, &mut depth);
                at = string_end(bytes, at + 1);
                continue;
            }
            b'(' => {
                runs.push(0);
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(at);
                }
            }
            // An unmatched `)` is the parser's to report.
            b')' if runs.len() > 1 => depth -= runs.pop().unwrap_or(0) + 1,
            _ if byte.is_ascii_alphanumeric() || byte == b'_' => {
                let start = at;
                while bytes
                    .get(at)
                    .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
                {
                    at += 1;
                }
                if bytes
                    .get(start..at)
                    .is_some_and(|word| word.eq_ignore_ascii_case(b"not"))
                {
                    if let Some(run) = runs.last_mut() {
                        *run += 1;
                    }
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Some(start);
                    }
                } else {
                    end_run(&mut runs, &mut depth);
                }
                continue;
            }
            _ => {}
        }
        at += 1;
    }
    None
}

/// An operand ends the `not` run of the innermost level.
fn end_run(runs: &mut [usize], depth: &mut usize) {
    if let Some(run) = runs.last_mut() {
        *depth -= *run;
        *run = 0;
    }
}

fn line_end(bytes: &[u8], from: usize) -> usize {
    bytes
        .get(from..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
        .map_or(bytes.len(), |newline| from + newline)
}

/// The offset after the closing quote of a string whose text starts at
/// `from` (strings end at a newline too: they cannot span lines).
fn string_end(bytes: &[u8], mut from: usize) -> usize {
    while let Some(&byte) = bytes.get(from) {
        match byte {
            b'\\' => from += 2,
            b'"' => return from + 1,
            b'\n' => return from,
            _ => from += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_parentheses_and_runs_of_not() {
        let deep = |n: usize| format!("when {}always{} keep", "(".repeat(n), ")".repeat(n));
        assert_eq!(too_deep(&deep(MAX_NESTING)), None);
        assert_eq!(too_deep(&deep(MAX_NESTING + 1)), Some(5 + MAX_NESTING));
        let nots = |n: usize| format!("when {}always keep", "not ".repeat(n));
        assert_eq!(too_deep(&nots(MAX_NESTING)), None);
        assert!(too_deep(&nots(MAX_NESTING + 1)).is_some());
        // Many `not` side by side do not nest.
        let side_by_side = vec!["not always"; 200].join(" and ");
        assert_eq!(too_deep(&format!("when {side_by_side} keep")), None);
        // Nor do parentheses one after the other.
        let groups = vec!["(always)"; 200].join(" or ");
        assert_eq!(too_deep(&format!("when {groups} keep")), None);
    }

    #[test]
    fn strings_and_comments_do_not_count() {
        let parens = "(".repeat(MAX_NESTING + 1);
        assert_eq!(too_deep(&format!("# {parens}\nwhen always keep")), None);
        assert_eq!(
            too_deep(&format!("when caller == \"{parens}\\\"\" keep")),
            None
        );
        assert_eq!(too_deep(&format!("tag \"{}\"", "not ".repeat(100))), None);
    }
}
