//! Times, dates, hours and holidays: validation and lowering.
//!
//! The AST keeps literals raw (`25:00`, `2026-02-30` are representable);
//! this is where they are judged, each with its own span and a hint. Valid
//! values are lowered into [`WeeklyHours`] and [`HolidayCalendar`], whose
//! constructors do the merging and sorting. Time zones are not handled
//! here (see `zones.rs`).

use chrono::{Datelike, NaiveDate};

use super::names::Kind;
use super::Checker;
use crate::lang::ast::{
    self, DateLit, Day, DayRange, HolidayDate, HolidaySpec, HoursSpec, PartDay, TimeOfDay, Window,
};
use crate::lang::code::Code;
use crate::lang::diagnostic::Diagnostic;
use crate::lang::schedule::{DayWindow, HolidayCalendar, HolidayRule, WeeklyHours, DAY_MINUTES};
use crate::lang::span::{Span, Spanned};

/// A window boundary as it falls in the week: the DST-gap warning looks
/// for these inside the hours that clocks skip.
#[derive(Debug, Clone)]
pub(super) struct Boundary {
    /// The weekdays (Monday first) this boundary happens on. An overnight
    /// window's end falls on the day after the window's days.
    pub(super) days: [bool; 7],
    /// Minutes since midnight, below 1440 (`24:00` is the next day's 0).
    pub(super) minute: u32,
    pub(super) span: Span,
    pub(super) is_start: bool,
}

/// Whether a time starts or ends a window: only an end may be `24:00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Start,
    End,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn month_name(month: u32) -> &'static str {
    month
        .checked_sub(1)
        .and_then(|index| MONTHS.get(index as usize))
        .copied()
        .unwrap_or("?")
}

/// Days in `month` of `year` (`month` in 1..=12).
fn days_in_month(year: i32, month: u32) -> u32 {
    let first = NaiveDate::from_ymd_opt(year, month, 1);
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year.saturating_add(1), 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    match (first, next) {
        (Some(first), Some(next)) => u32::try_from((next - first).num_days()).unwrap_or(31),
        _ => 31,
    }
}

/// The days a day list covers; a range may wrap (`fri-mon`).
fn expand_days(ranges: &[DayRange]) -> [bool; 7] {
    let mut days = [false; 7];
    for range in ranges {
        let first = range.first.node.index();
        let last = range.last.as_ref().map_or(first, |last| last.node.index());
        let mut day = first;
        loop {
            days[day] = true;
            if day == last {
                break;
            }
            day = (day + 1) % 7;
        }
    }
    days
}

fn shift_days(days: [bool; 7]) -> [bool; 7] {
    let mut shifted = [false; 7];
    for (index, &on) in days.iter().enumerate() {
        shifted[(index + 1) % 7] = on;
    }
    shifted
}

fn clock(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

impl Checker<'_> {
    /// Validates a time; returns minutes since midnight (1440 for `24:00`).
    fn time(&mut self, time: &Spanned<TimeOfDay>, role: Role) -> Option<u32> {
        let TimeOfDay { hour, minute } = time.node;
        let written = self.text(time.span);
        if hour == 24 && minute == 0 {
            if role == Role::End {
                return Some(DAY_MINUTES);
            }
            self.report(
                Diagnostic::new(
                    Code::InvalidTime,
                    time.span,
                    format!("`{written}` can only end a window, not start one"),
                )
                .with_help("write `00:00` to start at midnight"),
            );
            return None;
        }
        if hour > 23 {
            let mut diagnostic = Diagnostic::new(
                Code::InvalidTime,
                time.span,
                format!("invalid time `{written}`: hours go from 00 to 23"),
            );
            diagnostic = if role == Role::End && hour < 48 && minute < 60 {
                diagnostic.with_help(format!(
                    "a window that runs past midnight ends the next day: write `{}` \
                     (`24:00` ends a window at midnight)",
                    clock((hour - 24) * 60 + minute)
                ))
            } else {
                diagnostic.with_help("write a time from `00:00` to `23:59`")
            };
            self.report(diagnostic);
            return None;
        }
        if minute > 59 {
            let mut diagnostic = Diagnostic::new(
                Code::InvalidTime,
                time.span,
                format!("invalid time `{written}`: minutes go from 00 to 59"),
            );
            let total = hour * 60 + minute;
            if total < DAY_MINUTES || (total == DAY_MINUTES && role == Role::End) {
                diagnostic = diagnostic.with_help(format!("did you mean `{}`?", clock(total)));
            }
            self.report(diagnostic);
            return None;
        }
        Some(hour * 60 + minute)
    }

    /// Validates a calendar date.
    fn date(&mut self, date: &Spanned<DateLit>) -> Option<NaiveDate> {
        let DateLit { year, month, day } = date.node;
        if let Some(valid) = NaiveDate::from_ymd_opt(year, month, day) {
            return Some(valid);
        }
        let written = self.text(date.span);
        let why = if !(1..=12).contains(&month) {
            format!("there is no month {month}")
        } else if day == 0 {
            "days start at 01".to_owned()
        } else {
            format!(
                "{} {year} has {} days",
                month_name(month),
                days_in_month(year, month)
            )
        };
        self.report(Diagnostic::new(
            Code::InvalidDate,
            date.span,
            format!("invalid date `{written}`: {why}"),
        ));
        None
    }

    /// Validates a yearly `every MM-DD`; 02-29 is allowed (leap years).
    fn yearly(&mut self, month: &Spanned<u32>, day: &Spanned<u32>) -> Option<(u32, u32)> {
        let span = month.span.to(day.span);
        let written = self.text(span);
        let why = if !(1..=12).contains(&month.node) {
            format!("there is no month {}", month.node)
        } else if day.node == 0 {
            "days start at 01".to_owned()
        } else {
            // 2024 is a leap year: the longest version of every month.
            let longest = days_in_month(2024, month.node);
            if day.node <= longest {
                return Some((month.node, day.node));
            }
            format!("{} has at most {longest} days", month_name(month.node))
        };
        self.report(Diagnostic::new(
            Code::InvalidDate,
            span,
            format!("invalid yearly date `{written}`: {why}"),
        ));
        None
    }

    /// Lowers an `hours` spec (named or inline) and collects its boundaries.
    pub(super) fn lower_hours_spec(
        &mut self,
        spec: &HoursSpec,
        name: Option<String>,
    ) -> (WeeklyHours, Vec<Boundary>) {
        let mut windows = Vec::new();
        let mut boundaries = Vec::new();
        for window in &spec.windows {
            self.lower_window(window, &mut windows, &mut boundaries);
        }
        let mut except = Vec::new();
        for ident in &spec.except {
            match self.names.lookup(&ident.node) {
                Some(found) if found.kind == Kind::Holidays => except.push(found.slot),
                Some(found) => {
                    let help = (found.kind == Kind::Hours).then(|| {
                        "`except` takes holidays; to combine hours, list their windows".to_owned()
                    });
                    self.wrong_kind(ident, found, "holidays", help);
                }
                None => self.unknown_name(ident, "holidays", &[Kind::Holidays]),
            }
        }
        (WeeklyHours::new(name, windows, except), boundaries)
    }

    fn lower_window(
        &mut self,
        window: &Window,
        windows: &mut Vec<DayWindow>,
        boundaries: &mut Vec<Boundary>,
    ) {
        let start = self.time(&window.start, Role::Start);
        let end = self.time(&window.end, Role::End);
        let (Some(start), Some(end)) = (start, end) else {
            return;
        };
        if start == end {
            self.report(
                Diagnostic::new(
                    Code::EmptyWindow,
                    window.start.span.to(window.end.span),
                    format!(
                        "the window `{}` opens and closes at the same time",
                        self.text(window.start.span.to(window.end.span))
                    ),
                )
                .with_help("to be open all day, write `00:00-24:00`"),
            );
            return;
        }
        let days = expand_days(&window.days);
        for (index, _) in days.iter().enumerate().filter(|(_, &on)| on) {
            windows.push(DayWindow {
                day: Day::from_index(index),
                start,
                end,
            });
        }
        boundaries.push(Boundary {
            days,
            minute: start,
            span: window.start.span,
            is_start: true,
        });
        // An overnight window (and a `24:00` end) closes on the next day.
        let next_day = end <= start || end == DAY_MINUTES;
        boundaries.push(Boundary {
            days: if next_day { shift_days(days) } else { days },
            minute: end % DAY_MINUTES,
            span: window.end.span,
            is_start: false,
        });
    }

    /// Lowers a `holidays` definition.
    pub(super) fn lower_holidays(&mut self, spec: &HolidaySpec, name: String) -> HolidayCalendar {
        let rules = spec
            .entries
            .iter()
            .filter_map(|entry| self.lower_holiday(entry))
            .collect();
        HolidayCalendar::new(name, rules)
    }

    fn lower_holiday(&mut self, entry: &ast::HolidayEntry) -> Option<HolidayRule> {
        let when = self.holiday_date(&entry.when);
        let part = match &entry.part {
            None => Some((0, DAY_MINUTES)),
            Some(part) => self.part_day(part),
        };
        let (start, end) = part?;
        Some(match when? {
            Dates(first, last) => HolidayRule::Dates {
                first,
                last,
                start,
                end,
            },
            Yearly(month, day) => HolidayRule::Yearly {
                month,
                day,
                start,
                end,
            },
        })
    }

    fn holiday_date(&mut self, when: &HolidayDate) -> Option<HolidayWhen> {
        match when {
            HolidayDate::Date(date) => self.date(date).map(|date| Dates(date, date)),
            HolidayDate::Range(first_lit, last_lit) => {
                let first = self.date(first_lit);
                let last = self.date(last_lit);
                let (first, last) = (first?, last?);
                if last < first {
                    let span = first_lit.span.to(last_lit.span);
                    self.report(
                        Diagnostic::new(
                            Code::InvalidDate,
                            span,
                            format!("the range `{}` ends before it starts", self.text(span)),
                        )
                        .with_help(format!(
                            "write the earlier date first: `{}..{}`",
                            self.text(last_lit.span),
                            self.text(first_lit.span)
                        )),
                    );
                    return None;
                }
                Some(Dates(first, last))
            }
            HolidayDate::Yearly { month, day } => self
                .yearly(month, day)
                .map(|(month, day)| Yearly(month, day)),
        }
    }

    /// Validates a part day; returns its minutes `[start, end)`.
    fn part_day(&mut self, part: &PartDay) -> Option<(u32, u32)> {
        let (start, end, span, keyword) = match part {
            PartDay::From(time) => (
                self.time(time, Role::Start)?,
                DAY_MINUTES,
                time.span,
                "from ",
            ),
            PartDay::Until(time) => (0, self.time(time, Role::End)?, time.span, "until "),
            PartDay::Between(from, until) => {
                let start = self.time(from, Role::Start);
                let end = self.time(until, Role::End);
                let (start, mut end) = (start?, end?);
                // `22:00-00:00` runs until midnight.
                if end == 0 && start > 0 {
                    end = DAY_MINUTES;
                }
                (start, end, from.span.to(until.span), "")
            }
        };
        if start == end {
            self.report(
                Diagnostic::new(
                    Code::EmptyWindow,
                    span,
                    format!("`{keyword}{}` leaves no time of the day", self.text(span)),
                )
                .with_help("leave the time out to cover the whole day"),
            );
            return None;
        }
        if end < start {
            self.report(
                Diagnostic::new(
                    Code::InvalidTime,
                    span,
                    format!("the part day `{}` runs past midnight", self.text(span)),
                )
                .with_help(format!(
                    "a holiday's part day stays within its date: write `from {}` on this date \
                     and `until {}` on the next",
                    clock(start),
                    clock(end)
                )),
            );
            return None;
        }
        Some((start, end))
    }
}

/// The dates of a holiday entry, validated.
#[derive(Debug, Clone, Copy)]
enum HolidayWhen {
    Dates(NaiveDate, NaiveDate),
    Yearly(u32, u32),
}

use HolidayWhen::{Dates, Yearly};

/// Weekday index (Monday 0) of a date, for boundaries.
pub(super) fn weekday_index(date: NaiveDate) -> usize {
    date.weekday().num_days_from_monday() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_lengths() {
        assert_eq!(days_in_month(2026, 2), 28);
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2026, 12), 31);
        assert_eq!(days_in_month(2026, 4), 30);
    }

    #[test]
    fn shifting_days_wraps_sunday_to_monday() {
        let mut sunday = [false; 7];
        sunday[6] = true;
        let shifted = shift_days(sunday);
        assert!(shifted[0]);
        assert_eq!(shifted.iter().filter(|&&on| on).count(), 1);
    }
}
