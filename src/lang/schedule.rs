//! Business hours and holidays, compiled for fast lookups by local time.
//!
//! Everything here works on wall-clock local time (`NaiveDateTime` in the
//! test's zone): on a spring-forward day the skipped hour never occurs, on a
//! fall-back day the repeated hour occurs twice and matches both times.

use chrono::NaiveDate;

use super::ast::Day;

/// A window as compiled: minutes since midnight, `start < end` unless the
/// window is overnight (`end <= start` with `end > 0`, covering the next day
/// up to `end`). `end` may be 1440 (`24:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayWindow {
    pub day: Day,
    pub start: u32,
    pub end: u32,
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

/// One holiday entry: a local date (or yearly month-day) and the part of
/// that day it covers, in minutes `[start, end)`; a full day is `0..1440`.
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

/// A named set of holidays (`holidays bank = ...`).
#[derive(Debug, Clone, PartialEq)]
pub struct HolidayCalendar {
    pub name: String,
    pub rules: Vec<HolidayRule>,
}
