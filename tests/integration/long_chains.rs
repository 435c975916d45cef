//! Issue 15 §1: a condition may chain any number of `or` / `and`.
//!
//! Chains of 100,000 terms (of `or`, of `and`, of both mixed, inside
//! groups, and spread over the deepest nesting the parser allows) go
//! through every walk of a condition: parse, check, evaluate, explain, and
//! `fmt`, whose output must say the same thing and format to itself; an
//! error in the middle of such a chain is reported, not a crash. Each
//! runs on a thread with a small stack: a walk that recursed once per term
//! would overflow it and abort the whole test binary, which is how the bug
//! showed in the server (a reload on a blocking thread).
//!
//! Debug builds parse about half a megabyte a second, so each file is
//! parsed only twice: as written, and as formatted.
#![expect(clippy::unwrap_used, clippy::panic, reason = "tests")]

use std::sync::Arc;

use chrono::{NaiveDate, TimeZone, Utc};
use switchboard::lang::ast::{self, Expr, ExprKind};
use switchboard::lang::call::{Call, Caller, Direction};
use switchboard::lang::check::check;
use switchboard::lang::format::format_file;
use switchboard::lang::outcome::Outcome;
use switchboard::lang::parse::parse_file_in_parts;
use switchboard::lang::render::render;
use switchboard::lang::{
    compile, AvailabilityList, CheckOptions, Contact, Context, FileId, RuleSet, SourceFile,
    Sources, Value,
};

const TERMS: usize = 100_000;

/// An eighth of the 2 MiB of a spawned or a tokio blocking thread, a
/// thirty-second of a main thread's 8 MiB.
const SMALL_STACK: usize = 256 * 1024;

/// As deep as conditions may nest (`parse::nesting::MAX_NESTING`).
const MAX_NESTING: usize = 64;

/// Runs `work` on a thread with [`SMALL_STACK`].
fn on_small_stack<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("small stack".to_owned())
            .stack_size(SMALL_STACK)
            .spawn_scoped(scope, work)
            .unwrap()
            .join()
            .unwrap()
    })
}

/// Parses as `compile` does in the product (`loader::check_options`):
/// with the cores this process may use. A file this large is then parsed
/// in parts on scoped threads of the default stack size; on the calling
/// small stack, a debug build's parser overflows at the deepest nesting
/// (`parse::nesting::MAX_NESTING`).
fn parse(text: &str) -> ast::File {
    let threads = switchboard::loader::check_options(NaiveDate::MIN).parse_threads;
    parse_file_in_parts(&SourceFile::new("chain.rules", text), FileId(0), threads).unwrap()
}

fn rule_set(file: &ast::File, text: &str) -> RuleSet {
    let sources = Arc::new(Sources::single("chain.rules", text));
    let options = CheckOptions::new(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap());
    let (rule_set, diagnostics) = check(std::slice::from_ref(file), &sources, &options);
    assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:?}");
    rule_set.unwrap()
}

/// An inbound call whose caller has a contact with `n`.
fn call_with_n(n: i64) -> (Call, Contact) {
    let call = Call {
        event: "call.created".to_owned(),
        id: Some(1),
        direction: Some(Direction::Inbound),
        instant: Utc.with_ymd_and_hms(2026, 3, 2, 10, 0, 0).unwrap(),
        caller: Some(Caller {
            e164: "+33176360695".to_owned(),
            country: Some("FR".to_owned()),
        }),
        number_id: Some(1),
        number_e164: None,
        number_zone: None,
    };
    let mut contact = Contact::default();
    contact.insert("n", Value::Int(n));
    (call, contact)
}

/// What a rule set decides for a contact with `n`: the deciding rule's
/// name and every condition `explain` evaluated, with its result.
type Decided = (Option<String>, Vec<(String, bool)>);

fn decide(rules: &RuleSet, n: i64) -> Decided {
    let (call, contact) = call_with_n(n);
    let availability = AvailabilityList::default();
    let ctx = Context {
        contact: Some(&contact),
        last_agent: None,
        availability: &availability,
    };
    let name = |outcome: &Outcome| {
        outcome
            .decision
            .rule
            .as_ref()
            .and_then(|rule| rule.name.as_deref().map(str::to_owned))
    };
    let evaluated = rules.evaluate(&call, &ctx);
    let explained = rules.explain(&call, &ctx);
    assert_eq!(evaluated.decision, explained.decision);
    let conditions = explained
        .trace
        .iter()
        .flat_map(|rule| &rule.conditions)
        .map(|condition| (condition.text.clone(), condition.result))
        .collect();
    (name(&explained), conditions)
}

/// One rule named `chain` with `condition`, then a catch-all `rest`.
fn file(condition: &str) -> String {
    format!("rule \"chain\"\nwhen {condition}\nkeep\n\nrule \"rest\"\nwhen always\nkeep\n")
}

/// A call for [`exercise`]: the contact's `n`, whether the chain holds,
/// and how many of its conditions `explain` evaluates.
struct Case {
    n: i64,
    holds: bool,
    evaluated: usize,
}

/// Parses, checks, evaluates and explains `text` (a [`file`]) for each
/// case, then formats it: the formatted text must parse to the same tree
/// (spans aside), decide every case the same way, and format to itself.
/// Returns the formatted text.
fn exercise(text: &str, cases: &[Case]) -> String {
    on_small_stack(|| {
        let file = parse(text);
        let rules = rule_set(&file, text);
        let mut decisions = Vec::new();
        for case in cases {
            let (decided, conditions) = decide(&rules, case.n);
            let want = if case.holds { "chain" } else { "rest" };
            assert_eq!(decided.as_deref(), Some(want), "n = {}", case.n);
            // The chain's conditions, then `always` when it did not hold.
            let always = usize::from(!case.holds);
            assert_eq!(conditions.len(), case.evaluated + always, "n = {}", case.n);
            decisions.push((decided, conditions));
        }

        let formatted = format_file(&file, text);
        let reparsed = parse(&formatted);
        assert_eq!(reparsed.items.len(), file.items.len());
        for (item, again) in file.items.iter().zip(&reparsed.items) {
            if let (ast::Item::Rule(rule), ast::Item::Rule(again)) = (item, again) {
                same_tree(&rule.condition, text, &again.condition, &formatted);
            }
        }
        assert!(
            format_file(&reparsed, &formatted) == formatted,
            "formatting is not idempotent"
        );
        let reformatted_rules = rule_set(&reparsed, &formatted);
        for (case, decision) in cases.iter().zip(&decisions) {
            assert!(
                decide(&reformatted_rules, case.n) == *decision,
                "the formatted rules decide otherwise for n = {}",
                case.n
            );
        }
        formatted
    })
}

/// Asserts two conditions have one shape and the same tests (the texts are
/// written canonically, so a test reads the same in both).
fn same_tree(a: &Expr, a_text: &str, b: &Expr, b_text: &str) {
    let slice =
        |expr: &Expr, text: &str| text[expr.span.start as usize..expr.span.end as usize].to_owned();
    match (&a.kind, &b.kind) {
        (ExprKind::Or(a_operands), ExprKind::Or(b_operands))
        | (ExprKind::And(a_operands), ExprKind::And(b_operands)) => {
            assert_eq!(a_operands.len(), b_operands.len());
            for (a, b) in a_operands.iter().zip(b_operands) {
                same_tree(a, a_text, b, b_text);
            }
        }
        (ExprKind::Not(a), ExprKind::Not(b)) | (ExprKind::Group(a), ExprKind::Group(b)) => {
            same_tree(a, a_text, b, b_text);
        }
        (ExprKind::Test(_), ExprKind::Test(_)) => {
            assert_eq!(slice(a, a_text), slice(b, b_text));
        }
        _ => panic!(
            "`{}` became `{}`",
            slice(a, a_text).chars().take(80).collect::<String>(),
            slice(b, b_text).chars().take(80).collect::<String>()
        ),
    }
}

/// `test` for each number of `range` (`#` stands for the number), joined
/// by `op`.
fn chain(range: std::ops::Range<usize>, op: &str, test: &str) -> String {
    range
        .map(|i| test.replace('#', &i.to_string()))
        .collect::<Vec<_>>()
        .join(&format!(" {op} "))
}

/// Added to a term's number where no contact in the tests has it (rules
/// have no negative literals).
const UNSEEN: usize = 1_000_000;

#[test]
fn issue_15_a_chain_of_100_000_or() {
    let text = file(&chain(0..TERMS, "or", "contact.n == #"));
    let last = TERMS as i64 - 1;
    let formatted = exercise(
        &text,
        &[
            // Only the last term holds: every term is evaluated.
            Case {
                n: last,
                holds: true,
                evaluated: TERMS,
            },
            Case {
                n: 0,
                holds: true,
                evaluated: 1,
            },
            Case {
                n: -1,
                holds: false,
                evaluated: TERMS,
            },
        ],
    );
    // Printed as a list, one term a line.
    assert!(formatted.starts_with("rule \"chain\"\nwhen contact.n == 0\n  or contact.n == 1\n"));
    assert_eq!(formatted.lines().count(), TERMS + 6);
}

#[test]
fn issue_15_a_chain_of_100_000_and() {
    let text = file(&chain(0..TERMS, "and", "contact.n != #"));
    exercise(
        &text,
        &[
            Case {
                n: -1,
                holds: true,
                evaluated: TERMS,
            },
            // The first term fails; the rest is short-circuited.
            Case {
                n: 0,
                holds: false,
                evaluated: 1,
            },
            Case {
                n: TERMS as i64 - 1,
                holds: false,
                evaluated: TERMS,
            },
        ],
    );
}

#[test]
fn issue_15_mixed_and_or_chains_of_100_000_terms() {
    // `contact.n == 0 and caller exists and contact.n != 1000002 or
    // contact.n == 3 and ...`: groups of three `and`-ed terms, `or`-ed.
    let terms: Vec<String> = (0..TERMS)
        .map(|i| match i % 3 {
            0 => format!("contact.n == {i}"),
            1 => "caller exists".to_owned(),
            _ => format!("contact.n != {}", UNSEEN + i),
        })
        .collect();
    let mut condition = String::new();
    for (i, term) in terms.iter().enumerate() {
        if i > 0 {
            condition.push_str(if i % 3 == 0 { " or " } else { " and " });
        }
        condition.push_str(term);
    }
    let groups = TERMS.div_ceil(3);
    let formatted = exercise(
        &file(&condition),
        &[
            // Each earlier group stops at its first term.
            Case {
                n: 3 * (groups as i64 - 2),
                holds: true,
                evaluated: groups - 2 + 3,
            },
            Case {
                n: -1,
                holds: false,
                evaluated: groups,
            },
        ],
    );
    // One `or` operand a line; each `and` group fits on its line.
    assert!(
        formatted.starts_with(
            "rule \"chain\"\nwhen contact.n == 0 and caller exists and contact.n != 1000002\n  or contact.n == 3 and caller exists and contact.n != 1000005\n"
        ),
        "{}",
        &formatted[..200]
    );

    // One `or` whose second operand is an `and` of all but one term.
    let condition = format!(
        "contact.n == {UNSEEN} or {}",
        chain(1..TERMS, "and", "contact.n != #")
    );
    let formatted = exercise(
        &file(&condition),
        &[
            Case {
                n: 0,
                holds: true,
                evaluated: TERMS,
            },
            Case {
                n: UNSEEN as i64,
                holds: true,
                evaluated: 1,
            },
            Case {
                n: 1,
                holds: false,
                evaluated: 2,
            },
        ],
    );
    // The `and` too wide for a line is broken under its `or`, one level
    // deeper.
    assert!(
        formatted.starts_with(
            "rule \"chain\"\nwhen contact.n == 1000000\n  or contact.n != 1\n    and contact.n != 2\n"
        ),
        "{}",
        &formatted[..200]
    );
    assert_eq!(formatted.lines().count(), TERMS + 6);
}

#[test]
fn issue_15_groups_holding_long_chains() {
    let half = TERMS / 2;
    let condition = format!(
        "({}) and not ({}) and (caller exists)",
        chain(0..half, "or", "contact.n == #"),
        chain(half..TERMS, "or", "contact.n == #"),
    );
    exercise(
        &file(&condition),
        &[
            // The first group holds at its last term; the second is false
            // throughout.
            Case {
                n: half as i64 - 1,
                holds: true,
                evaluated: TERMS + 1,
            },
            Case {
                n: 0,
                holds: true,
                evaluated: 1 + (TERMS - half) + 1,
            },
            // The first group does not hold: the rest is short-circuited.
            Case {
                n: half as i64,
                holds: false,
                evaluated: half,
            },
        ],
    );
}

#[test]
fn issue_15_long_chains_at_the_deepest_nesting() {
    // `contact.n == 1000001 or ... or (contact.n != 1001563 and ... and
    // (...))`, `or` and `and` by turns, every level reached by evaluation.
    let per_level = TERMS / MAX_NESTING;
    let mut condition = "contact.n == 7".to_owned();
    for level in (0..MAX_NESTING).rev() {
        let (op, test) = if level % 2 == 0 {
            ("or", "contact.n == #")
        } else {
            ("and", "contact.n != #")
        };
        let first = UNSEEN + level * per_level + 1;
        condition = format!(
            "{} {op} ({condition})",
            chain(first..first + per_level, op, test)
        );
    }
    assert_eq!(condition.matches('(').count(), MAX_NESTING);
    let formatted = exercise(
        &file(&condition),
        &[
            Case {
                n: 7,
                holds: true,
                evaluated: per_level * MAX_NESTING + 1,
            },
            // The outer `or` at level 0 holds at its second term.
            Case {
                n: UNSEEN as i64 + 2,
                holds: true,
                evaluated: 2,
            },
        ],
    );
    // The top-level `or` is broken; its operands (groups included) are not.
    assert_eq!(formatted.lines().count(), per_level + 1 + 6);
}

#[test]
fn issue_15_errors_in_a_long_chain_are_reported() {
    on_small_stack(|| {
        let compile = |condition: String| {
            let text = file(&condition);
            let compiled = compile(
                Sources::single("chain.rules", text),
                &CheckOptions::new(NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()),
            );
            // Rendering walks no condition, but must cope with a long line.
            let rendered = render(&compiled.diagnostics, &compiled.sources, false);
            let codes: Vec<&str> = compiled
                .diagnostics
                .iter()
                .map(|d| d.code.as_str())
                .collect();
            (codes, rendered)
        };
        let half = TERMS / 2;
        // `=` for `==` in the middle of the chain.
        let (codes, rendered) = compile(format!(
            "{} or contact.n = 1 or {}",
            chain(0..half, "or", "contact.n == #"),
            chain(half..TERMS, "or", "contact.n == #")
        ));
        assert_eq!(codes, ["syntax"]);
        assert!(rendered.contains("compare with `==`"));
        // A misspelt subject in the middle of the chain.
        let (codes, rendered) = compile(format!(
            "{} or caller.contry exists or {}",
            chain(0..half, "or", "contact.n == #"),
            chain(half..TERMS, "or", "contact.n == #")
        ));
        assert_eq!(codes, ["unknown-subject"]);
        assert!(rendered.contains("caller.country"));
    });
}
