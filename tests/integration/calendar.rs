//! `switchboard calendar`: effective opening day by day across a holiday
//! period and the 2026 clock changes (snapshots), JSON output, defaults
//! and errors.

#![expect(clippy::unwrap_used, reason = "tests")]

use crate::support::cli;
use chrono::{DateTime, Utc};
use cli::{Cmd, Output, Rules};
use switchboard::cli::calendar::{execute, CalendarArgs};
use switchboard::cli::{ColorChoice, ExitStatus, Format};

/// Hours that a clock change cuts through, in Paris.
const DST_RULES: &str = "\
timezone \"Europe/Paris\"
hours night = fri-sun 22:00-06:00, mon 01:00-04:00
hours support = mon-sun 08:00-20:00 except holidays bank
holidays bank = 2026-12-24 from 12:00, 2026-12-25, 2026-12-31 until 10:00,
                2026-12-28..2026-12-29 09:00-11:00, every 01-01
when within hours night keep
when within hours support keep
";

fn switchboard(args: &[&str]) -> Output {
    Cmd::new()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .run()
}

#[test]
fn the_example_office_over_christmas_and_new_year() {
    let output = switchboard(&[
        "calendar",
        "--rules",
        "rules/main.rules",
        "--hours",
        "office",
        "--from",
        "2026-12-20",
        "--to",
        "2027-01-05",
    ]);
    output.code(0);
    assert!(
        output
            .stdout
            .contains("Thu 24 Dec 08:00-14:00 (bank: from 14:00)\n"),
        "{}",
        output.stdout
    );
    insta::assert_snapshot!(output.stdout);
}

#[test]
fn spring_forward_in_paris() {
    let (_dir, path) = Rules::file("dst.rules", DST_RULES);
    let output = Cmd::new()
        .args([
            "calendar",
            "--hours",
            "night",
            "--from",
            "2026-03-27",
            "--to",
            "2026-03-30",
        ])
        .arg("--rules")
        .arg(&path)
        .run();
    output.code(0);
    let stdout = output
        .stdout
        .replace(&path.display().to_string(), "dst.rules");
    assert!(
        stdout.contains("Sun 29 Mar: clocks go forward 02:00 -> 03:00\n"),
        "{stdout}"
    );
    insta::assert_snapshot!(stdout);
}

#[test]
fn fall_back_in_paris() {
    let (_dir, path) = Rules::file("dst.rules", DST_RULES);
    let output = Cmd::new()
        .args([
            "calendar",
            "--hours",
            "night",
            "--from",
            "2026-10-23",
            "--to",
            "2026-10-26",
        ])
        .arg("--rules")
        .arg(&path)
        .run();
    output.code(0);
    let stdout = output
        .stdout
        .replace(&path.display().to_string(), "dst.rules");
    assert!(
        stdout.contains("Sun 25 Oct: clocks go back 03:00 -> 02:00\n"),
        "{stdout}"
    );
    insta::assert_snapshot!(stdout);
}

#[test]
fn part_days_ranges_and_yearly_holidays() {
    let (_dir, path) = Rules::file("dst.rules", DST_RULES);
    let output = Cmd::new()
        .args([
            "calendar",
            "--hours",
            "support",
            "--from",
            "2026-12-23",
            "--to",
            "2027-01-02",
        ])
        .arg("--rules")
        .arg(&path)
        .run();
    output.code(0);
    let stdout = output
        .stdout
        .replace(&path.display().to_string(), "dst.rules");
    insta::assert_snapshot!(stdout);
}

#[test]
fn another_zone_has_its_own_clock_changes() {
    let (_dir, path) = Rules::file("dst.rules", DST_RULES);
    let output = Cmd::new()
        .args([
            "calendar",
            "--hours",
            "support",
            "--from",
            "2026-03-07",
            "--to",
            "2026-03-09",
            "--zone",
            "America/New_York",
        ])
        .arg("--rules")
        .arg(&path)
        .run();
    output.code(0);
    assert!(
        output
            .stdout
            .contains("Sun 08 Mar: clocks go forward 02:00 -> 03:00\nSun 08 Mar 08:00-20:00\n"),
        "{}",
        output.stdout
    );
    assert!(
        output
            .stdout
            .contains("wall-clock times in America/New_York"),
        "{}",
        output.stdout
    );
    // Paris has no change that weekend.
    let output = Cmd::new()
        .args([
            "calendar",
            "--hours",
            "support",
            "--from",
            "2026-03-07",
            "--to",
            "2026-03-09",
        ])
        .arg("--rules")
        .arg(&path)
        .run();
    assert!(!output.stdout.contains("clocks"), "{}", output.stdout);
}

#[test]
fn json_output() {
    let (_dir, path) = Rules::file("dst.rules", DST_RULES);
    let output = Cmd::new()
        .args([
            "calendar",
            "--hours",
            "night",
            "--from",
            "2026-03-29",
            "--to",
            "2026-03-29",
            "--format",
            "json",
        ])
        .arg("--rules")
        .arg(&path)
        .run();
    output.code(0);
    let json = output.json();
    assert_eq!(json["hours"], "night");
    assert_eq!(json["zone"], "Europe/Paris");
    assert_eq!(json["line"], 2);
    let day = &json["days"][0];
    assert_eq!(day["date"], "2026-03-29");
    assert_eq!(day["weekday"], "Sun");
    assert_eq!(
        day["open"],
        serde_json::json!([{"start": "00:00", "end": "06:00"}, {"start": "22:00", "end": "24:00"}])
    );
    assert_eq!(
        day["clock_changes"],
        serde_json::json!([{"direction": "forward", "from": "02:00", "to": "03:00"}])
    );

    let output = Cmd::new()
        .args([
            "calendar",
            "--hours",
            "support",
            "--from",
            "2026-12-24",
            "--to",
            "2026-12-24",
            "--format",
            "json",
        ])
        .arg("--rules")
        .arg(&path)
        .run();
    output.code(0);
    let json = output.json();
    assert_eq!(
        json["days"][0]["closed"],
        serde_json::json!([{
            "holidays": "bank",
            "entry": "2026-12-24 from 12:00",
            "start": "12:00",
            "end": "20:00"
        }])
    );
}

fn args(rules: &std::path::Path, hours: &str) -> CalendarArgs {
    CalendarArgs {
        rules: rules.to_owned(),
        hours: hours.to_owned(),
        from: None,
        to: None,
        zone: None,
        format: Format::Human,
        color: ColorChoice::Never,
    }
}

fn run(args: &CalendarArgs, now: &str) -> (ExitStatus, String, String) {
    let now: DateTime<Utc> = DateTime::parse_from_rfc3339(now).unwrap().into();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = execute(args, &mut out, &mut err, false, now).unwrap();
    (
        status,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn the_default_range_is_today_and_the_next_14_days_in_the_zone() {
    let (_dir, path) = Rules::file("dst.rules", DST_RULES);
    // 23:30 UTC on 1 March is already 2 March in Paris.
    let (status, out, _) = run(&args(&path, "support"), "2026-03-01T23:30:00Z");
    assert_eq!(status, ExitStatus::Success);
    assert!(
        out.contains("Mon 02 Mar 2026 to Mon 16 Mar 2026, wall-clock times in Europe/Paris"),
        "{out}"
    );
    assert_eq!(
        out.lines()
            .filter(|l| l.contains(" Mar ") && !l.contains(" to "))
            .count(),
        15,
        "{out}"
    );

    // A file without `timezone` reads UTC.
    let (_dir, utc) = Rules::file(
        "utc.rules",
        "hours h = mon 9-17\nwhen within hours h keep\n",
    );
    let (status, out, _) = run(&args(&utc, "h"), "2026-03-01T23:30:00Z");
    assert_eq!(status, ExitStatus::Success);
    assert!(
        out.contains("Sun 01 Mar 2026 to Sun 15 Mar 2026, wall-clock times in UTC"),
        "{out}"
    );
}

#[test]
fn usage_errors_exit_2_and_invalid_rules_exit_1() {
    let (_dir, path) = Rules::file("dst.rules", DST_RULES);
    let now = "2026-03-01T12:00:00Z";

    let (status, _, err) = run(&args(&path, "suport"), now);
    assert_eq!(status, ExitStatus::Failure);
    assert!(
        err.contains("no hours named `suport`; did you mean `support`?"),
        "{err}"
    );

    let mut bad_zone = args(&path, "support");
    bad_zone.zone = Some("Europe/Pari".into());
    let (status, _, err) = run(&bad_zone, now);
    assert_eq!(status, ExitStatus::Failure);
    assert!(err.contains("did you mean `Europe/Paris`?"), "{err}");

    let mut backwards = args(&path, "support");
    backwards.from = chrono::NaiveDate::from_ymd_opt(2026, 3, 10);
    backwards.to = chrono::NaiveDate::from_ymd_opt(2026, 3, 1);
    let (status, _, err) = run(&backwards, now);
    assert_eq!(status, ExitStatus::Failure);
    assert!(err.contains("is before the first date"), "{err}");

    let (_dir, broken) = Rules::file(
        "broken.rules",
        "hours h = mon 25:00-26:00\nwhen within hours h keep\n",
    );
    let (status, _, err) = run(&args(&broken, "h"), now);
    assert_eq!(status, ExitStatus::Invalid);
    assert!(err.contains("the rules are invalid"), "{err}");

    let output = Cmd::new()
        .args([
            "calendar",
            "--rules",
            "rules/main.rules",
            "--hours",
            "office",
            "--from",
            "26-12-2026",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .run();
    output.code(2);
}
