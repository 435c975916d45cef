//! `switchboard calendar`: the effective opening of an `hours` definition,
//! day by day, with holidays, part days and clock changes applied and
//! marked.
//!
//! ```text
//! Thu 24 Dec 08:00-14:00 (bank: from 14:00)
//! Fri 25 Dec closed (bank: all day)
//! Sun 29 Mar: clocks go forward 02:00 -> 03:00
//! ```
//!
//! The day-by-day model is [`Calendar`] in `lang` (each date's opening from
//! [`WeeklyHours::day_plan`], the same data `within hours` tests read, so
//! the calendar cannot disagree with the rules); this module only prints
//! it. Times are wall-clock times in the zone (`--zone`, else the
//! `timezone` of the file that defines the hours, else UTC), as a time test
//! reads them: the zone decides when the clocks change, and a window that
//! spans a change is marked (the skipped hour never opens, the repeated
//! hour opens twice).
//!
//! Output: the calendar on stdout (text or `--format json`); problems on
//! stderr. Exit: 0 shown; 1 the rules are invalid; 2 bad usage (unknown
//! hours or zone, bad range) or an unreadable file.

use std::io::{self, Write};
use std::path::PathBuf;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use super::exit::ExitStatus;
use super::{ColorChoice, Format};
use crate::lang::ast::Day;
use crate::lang::calendar::{Calendar, CalendarDay, ClockChange};
use crate::lang::schedule::{ClockTime, HolidayRule, Period, WeeklyHours};
use crate::lang::symbols::Kind;
use crate::lang::{suggest, RuleSet};
use crate::suites::instant::parse_zone;

/// The longest range shown, in days (a decade): a typo in a year should
/// not print a century.
const MAX_DAYS: i64 = 3660;

/// The range shown when `--to` is not given, in days after `--from`.
const DEFAULT_DAYS: i64 = 14;

#[derive(Debug, Clone, clap::Args)]
pub struct CalendarArgs {
    /// The rules: a file, or a directory of `*.rules` files.
    #[arg(long, value_name = "PATH")]
    pub rules: PathBuf,

    /// The `hours` definition to show.
    #[arg(long, value_name = "NAME")]
    pub hours: String,

    /// First date shown (YYYY-MM-DD). Default: today in the zone.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub from: Option<NaiveDate>,

    /// Last date shown (YYYY-MM-DD). Default: 14 days after the first.
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub to: Option<NaiveDate>,

    /// The time zone whose clock the hours are read in. Default: the
    /// `timezone` of the file defining the hours, else UTC.
    #[arg(long, value_name = "ZONE")]
    pub zone: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// Colour diagnostics when the rules are invalid.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|error| format!("{error} (expected a date such as 2026-12-24)"))
}

/// Runs `calendar` against the real stdout/stderr and clock.
pub fn run(args: &CalendarArgs) -> ExitStatus {
    let color = args.color.enabled_on_stderr();
    super::on_std_streams(|out, err| execute(args, out, err, color, Utc::now()))
}

/// `calendar` with its outputs, colour and clock given, for tests.
pub fn execute(
    args: &CalendarArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
    color: bool,
    now: DateTime<Utc>,
) -> io::Result<ExitStatus> {
    let rule_set = match super::load_rule_set(&args.rules, now.date_naive(), err, color, "")? {
        Ok(rule_set) => rule_set,
        Err(status) => return Ok(status),
    };
    let rule_set = &rule_set;
    let Some(hours) = rule_set.hours_named(&args.hours) else {
        let names: Vec<&str> = rule_set
            .symbols()
            .of_kind(Kind::Hours)
            .map(|symbol| symbol.name.as_str())
            .collect();
        let mut message = format!(
            "error: {}: no hours named `{}`",
            args.rules.display(),
            args.hours
        );
        if let Some(found) = suggest::closest(&args.hours, names.iter().copied()) {
            message.push_str(&format!("; {}", suggest::did_you_mean(found)));
        } else if names.is_empty() {
            message.push_str(" (the rules define no hours)");
        } else {
            message.push_str(&format!(" (defined: {})", names.join(", ")));
        }
        writeln!(err, "{message}")?;
        return Ok(ExitStatus::Failure);
    };

    let definition = find_definition(rule_set, &args.hours);
    let zone = match &args.zone {
        Some(zone) => match parse_zone(zone) {
            Ok(zone) => zone,
            Err(problem) => {
                writeln!(err, "error: --zone: {problem}")?;
                return Ok(ExitStatus::Failure);
            }
        },
        None => definition
            .as_ref()
            .and_then(|definition| definition.zone)
            .unwrap_or(Tz::UTC),
    };
    let from = args
        .from
        .unwrap_or_else(|| now.with_timezone(&zone).date_naive());
    let to = args
        .to
        .unwrap_or_else(|| from + Duration::days(DEFAULT_DAYS));
    if to < from {
        writeln!(err, "error: --to {to} is before the first date {from}")?;
        return Ok(ExitStatus::Failure);
    }
    if (to - from).num_days() >= MAX_DAYS {
        writeln!(
            err,
            "error: {from} to {to} is more than {MAX_DAYS} days; show a shorter range"
        )?;
        return Ok(ExitStatus::Failure);
    }

    let calendar = Calendar::build(rule_set, hours, zone, from, to);
    match args.format {
        Format::Human => write_human(
            out,
            &args.hours,
            definition.as_ref(),
            hours,
            rule_set,
            &calendar,
        )?,
        Format::Json => {
            let json = JsonCalendar::new(&args.hours, definition.as_ref(), &calendar);
            serde_json::to_writer_pretty(&mut *out, &json)?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(ExitStatus::Success)
}

/// Where an `hours` definition is written, and its file's `timezone`.
#[derive(Debug, Clone)]
struct Definition {
    file: String,
    line: usize,
    zone: Option<Tz>,
}

/// The definition from the rule set's symbol table, not from parsing the
/// files again: its zone is the one the checker gave the defining file.
fn find_definition(rule_set: &RuleSet, name: &str) -> Option<Definition> {
    let symbol = rule_set.symbols().get(name)?;
    let file = rule_set.sources().get(symbol.span.file)?;
    Some(Definition {
        file: file.name.clone(),
        line: file.line(symbol.span.start as usize),
        zone: symbol.zone,
    })
}

// ---------------------------------------------------------------- human

fn write_human(
    out: &mut dyn Write,
    name: &str,
    definition: Option<&Definition>,
    hours: &WeeklyHours,
    rule_set: &RuleSet,
    calendar: &Calendar,
) -> io::Result<()> {
    match definition {
        Some(definition) => writeln!(
            out,
            "hours {name} ({}:{}): {}",
            definition.file,
            definition.line,
            describe_week(hours, rule_set)
        )?,
        None => writeln!(out, "hours {name}: {}", describe_week(hours, rule_set))?,
    }
    writeln!(
        out,
        "{} to {}, wall-clock times in {}",
        calendar.from.format("%a %d %b %Y"),
        calendar.to.format("%a %d %b %Y"),
        calendar.zone.name()
    )?;
    writeln!(out)?;
    let mut year = calendar.from.year();
    for day in &calendar.days {
        let date = day.plan.date;
        if date.year() != year {
            year = date.year();
            writeln!(out, "{year}")?;
        }
        let label = date.format("%a %d %b");
        for change in &day.changes {
            writeln!(out, "{label}: {}", describe_change(change))?;
        }
        writeln!(out, "{label} {}", describe_day(day))?;
    }
    Ok(())
}

/// `Mon-Fri 08:00-18:00, Sat 10:00-17:00, Sun closed, except holidays bank`.
fn describe_week(hours: &WeeklyHours, rule_set: &RuleSet) -> String {
    let mut groups: Vec<(Day, Day, String)> = Vec::new();
    for day in Day::ALL {
        let windows = hours.describe_day(day);
        match groups.last_mut() {
            Some((_, last, text)) if *text == windows => *last = day,
            _ => groups.push((day, day, windows)),
        }
    }
    let short = |day: Day| {
        let name = day.short_name();
        let mut chars = name.chars();
        chars
            .next()
            .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
            .unwrap_or_default()
    };
    let mut parts: Vec<String> = groups
        .into_iter()
        .map(|(first, last, windows)| {
            if first == last {
                format!("{} {windows}", short(first))
            } else {
                format!("{}-{} {windows}", short(first), short(last))
            }
        })
        .collect();
    let except: Vec<&str> = hours
        .except
        .iter()
        .filter_map(|&index| rule_set.holidays.get(index))
        .map(|calendar| calendar.name.as_str())
        .collect();
    if !except.is_empty() {
        parts.push(format!("except holidays {}", except.join(", ")));
    }
    parts.join(", ")
}

/// `clocks go forward 02:00 -> 03:00`.
fn describe_change(change: &ClockChange) -> String {
    let direction = if change.forward() { "forward" } else { "back" };
    format!(
        "clocks go {direction} {} -> {}",
        change.before.format("%H:%M"),
        change.after.format("%H:%M")
    )
}

/// `08:00-14:00 (bank: from 14:00)`, `closed (bank: all day)`.
fn describe_day(day: &CalendarDay) -> String {
    let plan = &day.plan;
    let mut text = if plan.open.is_empty() {
        "closed".to_owned()
    } else {
        plan.open
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut marks: Vec<String> = Vec::new();
    for closure in &plan.closed {
        let mark = format!(
            "{}: {}",
            closure.calendar,
            holiday_part(&closure.rule, plan.date)
        );
        if !marks.contains(&mark) {
            marks.push(mark);
        }
    }
    for (period, change) in &day.change_marks {
        marks.push(if change.forward() {
            format!("{period} skipped: clocks go forward")
        } else {
            format!("{period} happens twice: clocks go back")
        });
    }
    if !marks.is_empty() {
        text.push_str(&format!(" ({})", marks.join("; ")));
    }
    text
}

/// A holiday entry as it applies to `date`: `from 14:00`, `all day`,
/// `2026-08-10..2026-08-14`, `every 05-01 until 12:00`.
fn holiday_part(rule: &HolidayRule, date: NaiveDate) -> String {
    let whole = rule.part() == Period::whole_day();
    match rule {
        HolidayRule::Dates { first, last, .. } if *first == date && *last == date => {
            if whole {
                "all day".to_owned()
            } else {
                // `2026-12-24 from 14:00` without the date the line shows.
                let text = rule.describe();
                text.split_once(' ')
                    .map_or(text.clone(), |(_, part)| part.to_owned())
            }
        }
        _ => rule.describe(),
    }
}

// ---------------------------------------------------------------- JSON

#[derive(Debug, Serialize)]
struct JsonCalendar {
    hours: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    zone: &'static str,
    from: String,
    to: String,
    days: Vec<JsonDay>,
}

#[derive(Debug, Serialize)]
struct JsonDay {
    date: String,
    weekday: String,
    open: Vec<JsonPeriod>,
    /// Parts of the regular hours closed by a holiday.
    closed: Vec<JsonClosure>,
    /// Clock changes on this date.
    clock_changes: Vec<JsonClockChange>,
}

#[derive(Debug, Serialize)]
struct JsonPeriod {
    start: String,
    end: String,
}

impl From<Period> for JsonPeriod {
    fn from(period: Period) -> Self {
        JsonPeriod {
            start: ClockTime(period.start).to_string(),
            end: ClockTime(period.end).to_string(),
        }
    }
}

#[derive(Debug, Serialize)]
struct JsonClosure {
    holidays: String,
    /// The holiday entry as written, e.g. `2026-12-24 from 14:00`.
    entry: String,
    start: String,
    end: String,
}

#[derive(Debug, Serialize)]
struct JsonClockChange {
    /// `forward` or `back`.
    direction: &'static str,
    /// Wall-clock time before and after, `HH:MM`.
    from: String,
    to: String,
}

impl JsonCalendar {
    fn new(name: &str, definition: Option<&Definition>, calendar: &Calendar) -> JsonCalendar {
        JsonCalendar {
            hours: name.to_owned(),
            file: definition.map(|d| d.file.clone()),
            line: definition.map(|d| d.line),
            zone: calendar.zone.name(),
            from: calendar.from.to_string(),
            to: calendar.to.to_string(),
            days: calendar
                .days
                .iter()
                .map(|day| JsonDay {
                    date: day.plan.date.to_string(),
                    weekday: day.plan.date.format("%a").to_string(),
                    open: day
                        .plan
                        .open
                        .iter()
                        .copied()
                        .map(JsonPeriod::from)
                        .collect(),
                    closed: day
                        .plan
                        .closed
                        .iter()
                        .map(|closure| {
                            let period = JsonPeriod::from(closure.period);
                            JsonClosure {
                                holidays: closure.calendar.clone(),
                                entry: closure.rule.describe(),
                                start: period.start,
                                end: period.end,
                            }
                        })
                        .collect(),
                    clock_changes: day
                        .changes
                        .iter()
                        .map(|change| JsonClockChange {
                            direction: if change.forward() { "forward" } else { "back" },
                            from: change.before.format("%H:%M").to_string(),
                            to: change.after.format("%H:%M").to_string(),
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use crate::lang::calendar::clock_changes;
    use crate::lang::schedule::DAY_MINUTES;

    fn date(text: &str) -> NaiveDate {
        parse_date(text).unwrap()
    }

    #[test]
    fn clock_changes_are_described_by_direction() {
        let paris: Tz = "Europe/Paris".parse().unwrap();
        let changes = clock_changes(paris, date("2026-01-01"), date("2026-12-31"));
        assert_eq!(
            changes.iter().map(describe_change).collect::<Vec<_>>(),
            vec![
                "clocks go forward 02:00 -> 03:00",
                "clocks go back 03:00 -> 02:00"
            ]
        );
    }

    #[test]
    fn holiday_parts_drop_the_date_the_line_shows() {
        let rule = HolidayRule::Dates {
            first: date("2026-12-24"),
            last: date("2026-12-24"),
            start: 14 * 60,
            end: DAY_MINUTES,
        };
        assert_eq!(holiday_part(&rule, date("2026-12-24")), "from 14:00");
        let day = HolidayRule::Dates {
            first: date("2026-12-25"),
            last: date("2026-12-25"),
            start: 0,
            end: DAY_MINUTES,
        };
        assert_eq!(holiday_part(&day, date("2026-12-25")), "all day");
        let yearly = HolidayRule::Yearly {
            month: 5,
            day: 1,
            start: 0,
            end: DAY_MINUTES,
        };
        assert_eq!(holiday_part(&yearly, date("2027-05-01")), "every 05-01");
    }
}
