//! `switchboard test` over 1,000 cases, as a whole process (start-up, YAML,
//! compiling the rules, building 1,000 calls, deciding them, printing).
//!
//! Generates a suite against `rules/main.rules` whose cases cycle through
//! every kind the example suite has (holidays, part days, after hours, the
//! VIP desk with availability, account managers with fallbacks, returning
//! callers, Spanish speakers, the support line, ignored events), runs the
//! release binary on it repeatedly, and prints the wall-clock figures. The
//! target is under one second; the run fails if the median is not.
//!
//! `cargo bench --bench test_suite`

#![expect(clippy::unwrap_used, clippy::expect_used, reason = "benchmark")]

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const CASES: usize = 1000;
const RUNS: usize = 21;
const BUDGET: Duration = Duration::from_secs(1);

/// One case: `at`, extra YAML lines, and the expectation.
const TEMPLATES: &[(&str, &str, &str)] = &[
    (
        "2026-12-25T{h}:{m}",
        "",
        "{ rule: bank holidays go to the 24/7 line, target: \"+18001234567\" }",
    ),
    (
        "2026-12-24T15:{m}",
        "",
        "{ rule: bank holidays go to the 24/7 line }",
    ),
    (
        "2026-03-02T19:{m}",
        "",
        "{ rule: after hours go to the 24/7 line }",
    ),
    (
        "2026-03-02T10:{m}",
        "    contact: { vip: true, agent: bob@example.com }\n    available: [alice@example.com]\n",
        "{ rule: VIP callers go to the VIP desk, target: alice, tags: [VIP] }",
    ),
    (
        "2026-03-02T11:{m}",
        "    contact: { agent: bob@example.com }\n    unavailable: [bob@example.com]\n",
        "{ rule: account manager, target: team sales, fallbacks: [] }",
    ),
    (
        "2026-03-03T09:{m}",
        "    last_agent: carol@example.com\n",
        "{ rule: returning caller, target: agent \"carol@example.com\", fallbacks: [sales] }",
    ),
    (
        "2026-03-04T14:{m}",
        "    call: { caller: \"+34 612 345 678\" }\n",
        "{ rule: Spanish speakers, target: team \"Soporte\" ringing longest_idle }",
    ),
    (
        "2026-03-05T16:{m}",
        "    call: { number: \"+33 1 76 36 06 95\" }\n",
        "{ rule: leave the support line to Aircall, action: keep }",
    ),
    ("2026-03-06T12:{m}", "", "{ rule: null, action: keep }"),
    (
        "2026-03-06T23:{m}",
        "    call: { direction: outbound }\n",
        "ignored",
    ),
];

fn suite() -> String {
    let mut text = String::from(
        "zone: Europe/Paris\ncall: { caller: \"+33 6 12 34 56 78\", number: 1234 }\ncases:\n",
    );
    for i in 0..CASES {
        let (at, extra, expect) = TEMPLATES[i % TEMPLATES.len()];
        let at = at
            .replace("{h}", &format!("{:02}", 8 + (i / TEMPLATES.len()) % 10))
            .replace("{m}", &format!("{:02}", (i * 7) % 60));
        write!(
            text,
            "  - name: case {i}\n    at: {at}\n{extra}    expect: {expect}\n"
        )
        .unwrap();
    }
    text
}

fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/main.rules");
    std::fs::copy(&rules, dir.path().join("main.rules")).expect("copy rules/main.rules");
    let suite_path = dir.path().join("main.test.yaml");
    std::fs::write(&suite_path, suite()).expect("write the suite");

    let binary = env!("CARGO_BIN_EXE_switchboard");
    let mut times = Vec::with_capacity(RUNS);
    for run in 0..=RUNS {
        let started = Instant::now();
        let output = Command::new(binary)
            .arg("test")
            .arg(&suite_path)
            .output()
            .expect("run switchboard");
        let elapsed = started.elapsed();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains(&format!("{CASES} passed, 0 failed")),
            "the generated suite did not pass:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        // The first run warms the page cache; it is not counted.
        if run > 0 {
            times.push(elapsed);
        }
    }
    times.sort();
    let median = times[times.len() / 2];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "switchboard test, {CASES} cases, whole process ({RUNS} runs): \
         min {:.1} ms, median {:.1} ms, max {:.1} ms (budget {} ms)",
        ms(times[0]),
        ms(median),
        ms(times[times.len() - 1]),
        BUDGET.as_millis()
    );
    assert!(
        median < BUDGET,
        "median {:.1} ms is over the {} ms budget",
        ms(median),
        BUDGET.as_millis()
    );
}
