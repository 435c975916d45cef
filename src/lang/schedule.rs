//! Business hours and holidays, compiled for fast lookups by local time.
//!
//! Everything here works on wall-clock local time (`NaiveDateTime` in the
//! test's zone): on a spring-forward day the skipped hour never occurs, on a
//! fall-back day the repeated hour occurs twice and matches both times.
//! Converting an instant to local time is the caller's job; this module
//! never looks at time zones, the clock or the rules text.

use std::fmt;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Timelike};

use super::ast::Day;

/// Minutes in a day; also the `24:00` end of a window.
pub const DAY_MINUTES: u32 = 24 * 60;

/// A window as compiled: minutes since midnight, `start < end` unless the
/// window is overnight (`end <= start` with `end > 0`, covering the next day
/// up to `end`). `end` may be 1440 (`24:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayWindow {
    /// The day the window starts on.
    pub day: Day,
    /// Minutes since midnight, inclusive.
    pub start: u32,
    /// Minutes since midnight, exclusive; `<= start` for an overnight window.
    pub end: u32,
}

impl DayWindow {
    /// Whether the window runs past midnight into the next day.
    pub fn is_overnight(&self) -> bool {
        self.end <= self.start
    }
}

impl fmt::Display for DayWindow {
    /// `08:00-18:00`, `22:00-06:00`, `00:00-24:00` (the day is not shown).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", ClockTime(self.start), ClockTime(self.end))
    }
}

/// A time of day in minutes, displayed as `HH:MM` (`24:00` for 1440).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClockTime(pub u32);

impl fmt::Display for ClockTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// A part of one local date, in minutes `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    /// Minutes since midnight, inclusive.
    pub start: u32,
    /// Minutes since midnight, exclusive (1440 for `24:00`).
    pub end: u32,
}

impl Period {
    /// `[start, end)` in minutes since midnight.
    pub fn new(start: u32, end: u32) -> Period {
        Period { start, end }
    }

    /// The whole day, `00:00-24:00`.
    pub fn whole_day() -> Period {
        Period::new(0, DAY_MINUTES)
    }

    /// Whether the minute of the day (see [`minute_of_day`]) is inside.
    pub fn contains(&self, minute: u32) -> bool {
        self.start <= minute && minute < self.end
    }

    /// The overlap of two periods, when they share at least a minute.
    pub fn intersect(&self, other: &Period) -> Option<Period> {
        let start = self.start.max(other.start);
        let end = self.end.min(other.end);
        (start < end).then_some(Period { start, end })
    }

    /// The length in minutes.
    pub fn minutes(&self) -> u32 {
        self.end.saturating_sub(self.start)
    }
}

impl fmt::Display for Period {
    /// `08:00-18:00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", ClockTime(self.start), ClockTime(self.end))
    }
}

/// Weekly opening hours (`hours office = ...`), possibly closed during
/// holiday sets.
#[derive(Debug, Clone, PartialEq)]
pub struct WeeklyHours {
    /// The definition's name; `None` for inline `hours(...)`.
    pub name: Option<String>,
    /// The windows as written, one per day they apply to (for explanations).
    pub windows: Vec<DayWindow>,
    /// Open minute ranges `[start, end)` per weekday (Monday first), with
    /// overnight windows already split across midnight; sorted and merged.
    pub open: [Vec<(u32, u32)>; 7],
    /// Indexes into [`super::rule_set::RuleSet`]'s holiday calendars.
    pub except: Vec<usize>,
}

impl WeeklyHours {
    /// Compiles windows (already validated by the checker) into per-weekday
    /// open ranges.
    ///
    /// An overnight window on day D (`end <= start`) covers D from `start`
    /// to midnight and D+1 from midnight to `end`, so `sun 22:00-06:00`
    /// opens Monday morning. Touching or overlapping ranges are merged.
    pub fn new(name: Option<String>, windows: Vec<DayWindow>, except: Vec<usize>) -> WeeklyHours {
        let mut open: [Vec<(u32, u32)>; 7] = Default::default();
        for window in &windows {
            let start = window.start.min(DAY_MINUTES);
            let end = window.end.min(DAY_MINUTES);
            let day = window.day.index();
            if end > start {
                open[day].push((start, end));
            } else {
                open[day].push((start, DAY_MINUTES));
                if end > 0 {
                    open[(day + 1) % 7].push((0, end));
                }
            }
        }
        for ranges in &mut open {
            merge(ranges);
        }
        WeeklyHours {
            name,
            windows,
            open,
            except,
        }
    }

    /// Whether the windows are open at a local wall-clock time. Holidays
    /// in `except` are not consulted: see [`WeeklyHours::except`].
    pub fn is_open_at(&self, local: NaiveDateTime) -> bool {
        let day = local.weekday().num_days_from_monday() as usize;
        let minute = local.hour() * 60 + local.minute();
        self.open.get(day).is_some_and(|ranges| {
            ranges
                .iter()
                .any(|&(start, end)| start <= minute && minute < end)
        })
    }

    /// Whether the windows cover every minute of the week (holidays aside).
    pub fn is_always_open(&self) -> bool {
        self.open
            .iter()
            .all(|ranges| ranges.as_slice() == [(0, DAY_MINUTES)])
    }

    /// Whether the windows cover no minute at all.
    pub fn is_never_open(&self) -> bool {
        self.open.iter().all(Vec::is_empty)
    }

    /// The windows written for `day`, in order of start: `10:00-17:00`,
    /// `08:00-12:00, 14:00-18:00`, `22:00-06:00` (overnight windows are
    /// shown as written, on the day they start), or `closed`.
    pub fn describe_day(&self, day: Day) -> String {
        let mut windows: Vec<&DayWindow> = self.windows.iter().filter(|w| w.day == day).collect();
        if windows.is_empty() {
            return "closed".to_owned();
        }
        windows.sort_by_key(|w| (w.start, w.end));
        join(windows.iter().map(|w| w.to_string()))
    }

    /// The overnight windows of the day before `day`, which keep `day`
    /// open after midnight (e.g. `22:00-06:00` on Sunday for Monday).
    pub fn spill_into(&self, day: Day) -> impl Iterator<Item = &DayWindow> {
        let previous = Day::from_index(day.index() + 6);
        self.windows
            .iter()
            .filter(move |w| w.day == previous && w.is_overnight() && w.end > 0)
    }

    /// The open ranges of a weekday, overnight spill-over included.
    pub fn regular_periods(&self, day: Day) -> Vec<Period> {
        self.open
            .get(day.index())
            .map(|ranges| ranges.iter().map(|&(s, e)| Period::new(s, e)).collect())
            .unwrap_or_default()
    }

    /// The effective opening of one local date: the weekday's ranges minus
    /// the parts closed by the `except` holidays, with what closed them.
    ///
    /// `calendars` is the rule set's list that [`WeeklyHours::except`]
    /// indexes. A minute is in `open` exactly when [`WeeklyHours::is_open_at`]
    /// holds and no `except` calendar [`HolidayCalendar::covering`]s it,
    /// which is what `within hours` tests. Minutes are wall-clock: on a DST
    /// change day some of them do not occur, or occur twice.
    pub fn day_plan(&self, date: NaiveDate, calendars: &[HolidayCalendar]) -> DayPlan {
        let regular = self.regular_periods(Day::from_chrono(date.weekday()));
        let mut closed = Vec::new();
        let mut holiday_parts = Vec::new();
        for calendar in self.except.iter().filter_map(|&index| calendars.get(index)) {
            for (period, rule) in calendar.periods_on(date) {
                holiday_parts.push(period);
                for open in &regular {
                    if let Some(overlap) = open.intersect(&period) {
                        closed.push(Closure {
                            calendar: calendar.name.clone(),
                            rule,
                            period: overlap,
                        });
                    }
                }
            }
        }
        closed.sort_by_key(|closure| closure.period);
        DayPlan {
            date,
            open: subtract(&regular, holiday_parts),
            closed,
        }
    }

    /// The effective open periods of one local date with holidays applied
    /// (see [`WeeklyHours::day_plan`]).
    pub fn open_periods(&self, date: NaiveDate, calendars: &[HolidayCalendar]) -> Vec<Period> {
        self.day_plan(date, calendars).open
    }
}

/// The opening of a [`WeeklyHours`] on one local date, for calendars and
/// explanations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayPlan {
    /// The local date planned.
    pub date: NaiveDate,
    /// Open periods with holidays applied: sorted, disjoint, not touching.
    pub open: Vec<Period>,
    /// Parts of the regular hours closed by a holiday, sorted by period; a
    /// part closed by two holidays appears twice.
    pub closed: Vec<Closure>,
}

/// A part of the regular hours closed by a holiday entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closure {
    /// The holiday calendar's name.
    pub calendar: String,
    /// The entry that closes it, e.g. `2026-12-24 from 14:00`.
    pub rule: HolidayRule,
    /// The part of the regular hours it closes on this date.
    pub period: Period,
}

/// One holiday entry: a local date (or yearly month-day) and the part of
/// that day it covers, in minutes `[start, end)`; a full day is `0..1440`.
/// A range with a part day covers that part of each of its days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HolidayRule {
    Dates {
        first: NaiveDate,
        last: NaiveDate,
        start: u32,
        end: u32,
    },
    Yearly {
        month: u32,
        day: u32,
        start: u32,
        end: u32,
    },
}

impl HolidayRule {
    /// The part of each covered day, `[start, end)` in minutes.
    pub fn part(&self) -> Period {
        match *self {
            HolidayRule::Dates { start, end, .. } | HolidayRule::Yearly { start, end, .. } => {
                Period::new(start, end)
            }
        }
    }

    /// Whether the entry applies to `date` (any part of it).
    pub fn covers_date(&self, date: NaiveDate) -> bool {
        match *self {
            HolidayRule::Dates { first, last, .. } => first <= date && date <= last,
            HolidayRule::Yearly { month, day, .. } => date.month() == month && date.day() == day,
        }
    }

    /// Whether the entry covers a local wall-clock time.
    pub fn covers(&self, local: NaiveDateTime) -> bool {
        self.covers_date(local.date()) && self.part().contains(minute_of_day(local))
    }

    /// The entry as written: `2026-12-25`, `2026-12-24 from 14:00`,
    /// `2026-08-10..2026-08-14`, `every 05-01`, `2026-12-31 until 12:00`,
    /// `2026-12-24 09:00-12:00`.
    pub fn describe(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for HolidayRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HolidayRule::Dates { first, last, .. } if first == last => {
                write!(f, "{}", first.format("%Y-%m-%d"))?;
            }
            HolidayRule::Dates { first, last, .. } => {
                write!(
                    f,
                    "{}..{}",
                    first.format("%Y-%m-%d"),
                    last.format("%Y-%m-%d")
                )?;
            }
            HolidayRule::Yearly { month, day, .. } => write!(f, "every {month:02}-{day:02}")?,
        }
        let part = self.part();
        match (part.start, part.end) {
            (0, DAY_MINUTES) => Ok(()),
            (start, DAY_MINUTES) => write!(f, " from {}", ClockTime(start)),
            (0, end) => write!(f, " until {}", ClockTime(end)),
            (start, end) => write!(f, " {}-{}", ClockTime(start), ClockTime(end)),
        }
    }
}

/// A named set of holidays (`holidays bank = ...`).
#[derive(Debug, Clone, PartialEq)]
pub struct HolidayCalendar {
    pub name: String,
    /// Dated entries sorted by first date, then yearly entries sorted by
    /// month and day (see [`HolidayCalendar::new`]).
    pub rules: Vec<HolidayRule>,
    /// How many of `rules` are dated (they come first).
    dated: usize,
    /// The longest dated entry, in days after its first: a lookup scans
    /// back from the date only this far.
    longest: i64,
}

impl HolidayCalendar {
    /// Sorts the entries so that [`HolidayCalendar::covering`] is a binary
    /// search rather than a scan of every entry.
    pub fn new(name: impl Into<String>, mut rules: Vec<HolidayRule>) -> HolidayCalendar {
        rules.sort_by_key(|rule| match *rule {
            HolidayRule::Dates {
                first,
                last,
                start,
                end,
            } => (0, first, last, 0, 0, start, end),
            HolidayRule::Yearly {
                month,
                day,
                start,
                end,
            } => (1, NaiveDate::MIN, NaiveDate::MIN, month, day, start, end),
        });
        let dated = rules
            .iter()
            .take_while(|rule| matches!(rule, HolidayRule::Dates { .. }))
            .count();
        let longest = rules
            .iter()
            .filter_map(|rule| match rule {
                HolidayRule::Dates { first, last, .. } => Some((*last - *first).num_days()),
                HolidayRule::Yearly { .. } => None,
            })
            .max()
            .unwrap_or(0)
            .max(0);
        HolidayCalendar {
            name: name.into(),
            rules,
            dated,
            longest,
        }
    }

    /// The first entry (in sorted order) covering a local wall-clock time.
    pub fn covering(&self, local: NaiveDateTime) -> Option<HolidayRule> {
        let minute = minute_of_day(local);
        self.entries_on(local.date())
            .find(|rule| rule.part().contains(minute))
    }

    /// Whether any entry covers a local wall-clock time.
    pub fn covers(&self, local: NaiveDateTime) -> bool {
        self.covering(local).is_some()
    }

    /// The parts of `date` the calendar covers, each with its entry, in
    /// entry order (parts may overlap).
    pub fn periods_on(&self, date: NaiveDate) -> Vec<(Period, HolidayRule)> {
        self.entries_on(date)
            .filter_map(|rule| {
                let part = rule.part();
                (part.start < part.end).then_some((part, rule))
            })
            .collect()
    }

    /// Every entry that applies to `date`, dated ones first.
    fn entries_on(&self, date: NaiveDate) -> impl Iterator<Item = HolidayRule> + '_ {
        let (dated, yearly) = self.rules.split_at(self.dated.min(self.rules.len()));
        // Dated entries starting after `date` cannot cover it; of the others,
        // only those starting at most `longest` days before can still run
        // until `date`.
        let after = dated.partition_point(|rule| first_date(rule) <= date);
        let earliest = date
            .checked_sub_signed(Duration::days(self.longest))
            .unwrap_or(NaiveDate::MIN);
        let from = dated.partition_point(|rule| first_date(rule) < earliest);
        let dated_hits = dated
            .get(from..after)
            .unwrap_or(&[])
            .iter()
            .filter(move |rule| rule.covers_date(date));
        let key = (date.month(), date.day());
        let start = yearly.partition_point(|rule| month_day(rule) < key);
        let yearly_hits = yearly
            .get(start..)
            .unwrap_or(&[])
            .iter()
            .take_while(move |rule| month_day(rule) == key);
        dated_hits.chain(yearly_hits).copied()
    }
}

fn first_date(rule: &HolidayRule) -> NaiveDate {
    match rule {
        HolidayRule::Dates { first, .. } => *first,
        HolidayRule::Yearly { .. } => NaiveDate::MAX,
    }
}

fn month_day(rule: &HolidayRule) -> (u32, u32) {
    match rule {
        HolidayRule::Yearly { month, day, .. } => (*month, *day),
        HolidayRule::Dates { .. } => (0, 0),
    }
}

/// Minutes since local midnight (seconds ignored: a window ending at 18:00
/// covers 17:59:59).
pub fn minute_of_day(local: NaiveDateTime) -> u32 {
    local.hour() * 60 + local.minute()
}

/// Sorts ranges and merges those that overlap or touch.
fn merge(ranges: &mut Vec<(u32, u32)>) {
    ranges.retain(|&(start, end)| start < end);
    ranges.sort_unstable();
    let mut merged: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
    for &(start, end) in ranges.iter() {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    *ranges = merged;
}

/// `open` (sorted, disjoint) minus the union of `holes`.
fn subtract(open: &[Period], holes: Vec<Period>) -> Vec<Period> {
    let mut holes: Vec<(u32, u32)> = holes.into_iter().map(|p| (p.start, p.end)).collect();
    merge(&mut holes);
    let mut result = Vec::with_capacity(open.len());
    for period in open {
        let mut cursor = period.start;
        for &(start, end) in &holes {
            if end <= cursor || start >= period.end {
                continue;
            }
            if start > cursor {
                result.push(Period::new(cursor, start));
            }
            cursor = cursor.max(end);
        }
        if cursor < period.end {
            result.push(Period::new(cursor, period.end));
        }
    }
    result
}

fn join(parts: impl Iterator<Item = String>) -> String {
    parts.collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn at(date: &str, time: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(&format!("{date} {time}"), "%Y-%m-%d %H:%M").unwrap()
    }

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn w(day: Day, start: u32, end: u32) -> DayWindow {
        DayWindow { day, start, end }
    }

    fn weekdays(start: u32, end: u32) -> Vec<DayWindow> {
        [Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri]
            .into_iter()
            .map(|day| w(day, start, end))
            .collect()
    }

    fn dates(first: &str, last: &str, start: u32, end: u32) -> HolidayRule {
        HolidayRule::Dates {
            first: date(first),
            last: date(last),
            start,
            end,
        }
    }

    fn yearly(month: u32, day: u32) -> HolidayRule {
        HolidayRule::Yearly {
            month,
            day,
            start: 0,
            end: DAY_MINUTES,
        }
    }

    // 2026-03-02 is a Monday.
    const MON: &str = "2026-03-02";
    const SAT: &str = "2026-03-07";
    const SUN: &str = "2026-03-08";

    #[test]
    fn window_start_is_inclusive_and_end_exclusive() {
        let office = WeeklyHours::new(Some("office".into()), weekdays(8 * 60, 18 * 60), vec![]);
        assert!(!office.is_open_at(at(MON, "07:59")));
        assert!(office.is_open_at(at(MON, "08:00")));
        assert!(office.is_open_at(at(MON, "17:59")));
        assert!(!office.is_open_at(at(MON, "18:00")));
        assert!(!office.is_open_at(at(SAT, "10:00")));
        let late =
            NaiveDateTime::parse_from_str("2026-03-02 17:59:59", "%Y-%m-%d %H:%M:%S").unwrap();
        assert!(office.is_open_at(late));
    }

    #[test]
    fn overnight_window_belongs_to_the_day_it_starts_on() {
        let night = WeeklyHours::new(None, vec![w(Day::Sun, 22 * 60, 6 * 60)], vec![]);
        assert!(!night.is_open_at(at(SUN, "21:59")));
        assert!(night.is_open_at(at(SUN, "22:00")));
        assert!(night.is_open_at(at(SUN, "23:59")));
        assert!(night.is_open_at(at(MON, "00:00")));
        assert!(night.is_open_at(at(MON, "05:59")));
        assert!(!night.is_open_at(at(MON, "06:00")));
        assert!(!night.is_open_at(at(MON, "22:00")));
        // Sunday morning belongs to Saturday's window, which does not exist.
        assert!(!night.is_open_at(at(SUN, "03:00")));
        assert_eq!(night.open[Day::Sun.index()], vec![(22 * 60, DAY_MINUTES)]);
        assert_eq!(night.open[Day::Mon.index()], vec![(0, 6 * 60)]);
        assert_eq!(night.spill_into(Day::Mon).count(), 1);
        assert_eq!(night.spill_into(Day::Tue).count(), 0);
    }

    #[test]
    fn midnight_end_and_24_00() {
        let evening = WeeklyHours::new(None, vec![w(Day::Fri, 20 * 60, 0)], vec![]);
        assert_eq!(evening.open[Day::Fri.index()], vec![(20 * 60, DAY_MINUTES)]);
        assert!(evening.open[Day::Sat.index()].is_empty());
        let whole = WeeklyHours::new(None, vec![w(Day::Mon, 0, DAY_MINUTES)], vec![]);
        assert!(whole.is_open_at(at(MON, "00:00")));
        assert!(whole.is_open_at(at(MON, "23:59")));
        assert!(!whole.is_open_at(at("2026-03-03", "00:00")));
        assert_eq!(whole.describe_day(Day::Mon), "00:00-24:00");
    }

    #[test]
    fn ranges_are_sorted_and_merged() {
        let hours = WeeklyHours::new(
            None,
            vec![
                w(Day::Mon, 14 * 60, 18 * 60),
                w(Day::Mon, 8 * 60, 12 * 60),
                w(Day::Mon, 12 * 60, 13 * 60),
                w(Day::Sun, 23 * 60, 2 * 60),
                w(Day::Mon, 60, 3 * 60),
            ],
            vec![],
        );
        assert_eq!(
            hours.open[Day::Mon.index()],
            vec![(0, 3 * 60), (8 * 60, 13 * 60), (14 * 60, 18 * 60)]
        );
        assert_eq!(
            hours.describe_day(Day::Mon),
            "01:00-03:00, 08:00-12:00, 12:00-13:00, 14:00-18:00"
        );
        assert_eq!(hours.describe_day(Day::Tue), "closed");
        assert_eq!(hours.describe_day(Day::Sun), "23:00-02:00");
    }

    #[test]
    fn always_and_never_open() {
        let all: Vec<DayWindow> = Day::ALL.iter().map(|&d| w(d, 0, DAY_MINUTES)).collect();
        assert!(WeeklyHours::new(None, all, vec![]).is_always_open());
        // Overnight windows chained day to day also cover the whole week.
        let chained: Vec<DayWindow> = Day::ALL.iter().map(|&d| w(d, 12 * 60, 12 * 60)).collect();
        assert!(WeeklyHours::new(None, chained, vec![]).is_always_open());
        let office = WeeklyHours::new(None, weekdays(480, 1080), vec![]);
        assert!(!office.is_always_open());
        assert!(!office.is_never_open());
        assert!(WeeklyHours::new(None, vec![], vec![]).is_never_open());
    }

    #[test]
    fn holidays_dates_ranges_part_days_and_yearly() {
        let bank = HolidayCalendar::new(
            "bank",
            vec![
                dates("2026-12-25", "2026-12-25", 0, DAY_MINUTES),
                dates("2027-01-01", "2027-01-01", 0, DAY_MINUTES),
                dates("2026-12-24", "2026-12-24", 14 * 60, DAY_MINUTES),
                dates("2026-08-10", "2026-08-14", 0, DAY_MINUTES),
                dates("2026-12-31", "2026-12-31", 0, 12 * 60),
                yearly(5, 1),
            ],
        );
        assert_eq!(
            bank.covering(at("2026-12-25", "00:00")),
            Some(dates("2026-12-25", "2026-12-25", 0, DAY_MINUTES))
        );
        assert!(bank.covers(at("2026-12-25", "23:59")));
        assert!(!bank.covers(at("2026-12-26", "00:00")));
        assert!(!bank.covers(at("2026-12-24", "13:59")));
        assert!(bank.covers(at("2026-12-24", "14:00")));
        assert!(bank.covers(at("2026-12-31", "11:59")));
        assert!(!bank.covers(at("2026-12-31", "12:00")));
        assert!(!bank.covers(at("2026-08-09", "12:00")));
        assert!(bank.covers(at("2026-08-10", "00:00")));
        assert!(bank.covers(at("2026-08-12", "12:00")));
        assert!(bank.covers(at("2026-08-14", "23:59")));
        assert!(!bank.covers(at("2026-08-15", "00:00")));
        assert!(bank.covers(at("2026-05-01", "09:00")));
        assert!(bank.covers(at("2031-05-01", "09:00")));
        assert!(bank.covers(at("1999-05-01", "09:00")));
        assert!(!bank.covers(at("2026-05-02", "09:00")));
        assert!(!bank.covers(at("2026-04-30", "23:59")));
    }

    #[test]
    fn yearly_february_29_only_in_leap_years() {
        let leap = HolidayCalendar::new("leap", vec![yearly(2, 29)]);
        assert!(leap.covers(at("2028-02-29", "10:00")));
        assert!(!leap.covers(at("2027-02-28", "10:00")));
        assert!(!leap.covers(at("2027-03-01", "10:00")));
    }

    #[test]
    fn overlapping_long_ranges_are_found_by_the_lookup() {
        // A long range that starts before many short ones must still be
        // found when the date is after the short ones' starts.
        let mut rules = vec![dates("2026-01-01", "2026-12-31", 0, DAY_MINUTES)];
        for day in 1..=28 {
            rules.push(dates(
                &format!("2026-02-{day:02}"),
                &format!("2026-02-{day:02}"),
                9 * 60,
                10 * 60,
            ));
        }
        let calendar = HolidayCalendar::new("year", rules);
        assert!(calendar.covers(at("2026-06-15", "03:00")));
        assert!(calendar.covers(at("2026-02-20", "03:00")));
        assert!(!calendar.covers(at("2027-01-01", "03:00")));
        assert_eq!(calendar.periods_on(date("2026-02-20")).len(), 2);
    }

    #[test]
    fn lookup_agrees_with_a_plain_scan() {
        let rules = vec![
            dates("2026-03-01", "2026-03-10", 0, DAY_MINUTES),
            dates("2026-03-05", "2026-03-05", 600, 700),
            dates("2026-03-08", "2026-03-20", 0, 300),
            dates("2026-02-27", "2026-03-02", 1000, DAY_MINUTES),
            yearly(3, 15),
            HolidayRule::Yearly {
                month: 3,
                day: 15,
                start: 0,
                end: 60,
            },
        ];
        let calendar = HolidayCalendar::new("mix", rules.clone());
        let mut day = date("2026-02-20");
        while day <= date("2026-03-25") {
            for minute in (0..DAY_MINUTES).step_by(10) {
                let local = day.and_hms_opt(minute / 60, minute % 60, 0).unwrap();
                let expected = rules.iter().any(|rule| rule.covers(local));
                assert_eq!(calendar.covers(local), expected, "{local}");
            }
            day = day.succ_opt().unwrap();
        }
    }

    #[test]
    fn describe_holiday_entries() {
        assert_eq!(
            dates("2026-12-25", "2026-12-25", 0, DAY_MINUTES).describe(),
            "2026-12-25"
        );
        assert_eq!(
            dates("2026-12-24", "2026-12-24", 840, DAY_MINUTES).describe(),
            "2026-12-24 from 14:00"
        );
        assert_eq!(
            dates("2026-12-31", "2026-12-31", 0, 720).describe(),
            "2026-12-31 until 12:00"
        );
        assert_eq!(
            dates("2026-12-24", "2026-12-24", 540, 720).describe(),
            "2026-12-24 09:00-12:00"
        );
        assert_eq!(
            dates("2026-08-10", "2026-08-14", 0, DAY_MINUTES).describe(),
            "2026-08-10..2026-08-14"
        );
        assert_eq!(yearly(5, 1).describe(), "every 05-01");
    }

    #[test]
    fn day_plan_applies_except_holidays() {
        let calendars = vec![
            HolidayCalendar::new("other", vec![yearly(1, 1)]),
            HolidayCalendar::new(
                "bank",
                vec![
                    dates("2026-12-24", "2026-12-24", 14 * 60, DAY_MINUTES),
                    dates("2026-12-25", "2026-12-25", 0, DAY_MINUTES),
                    dates("2026-12-23", "2026-12-23", 9 * 60, 10 * 60),
                    dates("2026-12-23", "2026-12-23", 9 * 60 + 30, 11 * 60),
                ],
            ),
        ];
        let support = WeeklyHours::new(Some("support".into()), weekdays(8 * 60, 20 * 60), vec![1]);
        // Thursday 24 December: closed from 14:00.
        let plan = support.day_plan(date("2026-12-24"), &calendars);
        assert_eq!(plan.open, vec![Period::new(480, 840)]);
        assert_eq!(plan.closed.len(), 1);
        assert_eq!(plan.closed[0].calendar, "bank");
        assert_eq!(plan.closed[0].period, Period::new(840, 1200));
        assert_eq!(plan.closed[0].rule.describe(), "2026-12-24 from 14:00");
        // Friday 25 December: closed all day.
        assert!(support
            .open_periods(date("2026-12-25"), &calendars)
            .is_empty());
        // Wednesday 23: two overlapping part days make one hole.
        assert_eq!(
            support.open_periods(date("2026-12-23"), &calendars),
            vec![Period::new(480, 540), Period::new(660, 1200)]
        );
        // 1 January is in a calendar the hours do not except.
        assert_eq!(
            support.open_periods(date("2027-01-01"), &calendars),
            vec![Period::new(480, 1200)]
        );
        // Saturday: closed anyway, nothing to report.
        let plan = support.day_plan(date("2026-12-26"), &calendars);
        assert!(plan.open.is_empty() && plan.closed.is_empty());
        assert_eq!(Period::new(480, 840).to_string(), "08:00-14:00");
    }

    #[test]
    fn day_plan_agrees_with_minute_lookups() {
        let calendars = vec![HolidayCalendar::new(
            "bank",
            vec![
                dates("2026-12-24", "2026-12-24", 14 * 60, DAY_MINUTES),
                dates("2026-12-28", "2026-12-29", 0, 6 * 60),
                yearly(12, 31),
            ],
        )];
        let mut windows = weekdays(8 * 60, 18 * 60);
        windows.push(w(Day::Sun, 22 * 60, 7 * 60));
        windows.push(w(Day::Mon, 22 * 60, 24 * 60));
        let hours = WeeklyHours::new(None, windows, vec![0]);
        let mut day = date("2026-12-20");
        while day <= date("2027-01-03") {
            let open = hours.open_periods(day, &calendars);
            for minute in 0..DAY_MINUTES {
                let local = day.and_hms_opt(minute / 60, minute % 60, 0).unwrap();
                let expected = hours.is_open_at(local) && !calendars[0].covers(local);
                let planned = open.iter().any(|period| period.contains(minute));
                assert_eq!(planned, expected, "{local}");
            }
            day = day.succ_opt().unwrap();
        }
    }
}
