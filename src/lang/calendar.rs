//! Wall-clock calendars: a zone's clock changes, and the opening of an
//! `hours` definition day by day with holidays, part days and clock
//! changes applied.
//!
//! [`clock_changes`] is the one place that finds when a zone's clocks
//! change: the checker's DST-gap warning reads the forward changes of the
//! coming months, and [`Calendar::build`] marks every change in the range
//! it shows. Each date's opening comes from [`WeeklyHours::day_plan`], the
//! same data `within hours` tests read, so a calendar cannot disagree with
//! the rules. Pure: the dates and the zone come in, nothing reads a clock.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike};
use chrono_tz::Tz;

use super::rule_set::RuleSet;
use super::schedule::{DayPlan, Period, WeeklyHours, DAY_MINUTES};

/// A change of a zone's UTC offset, seen on the wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockChange {
    /// The wall-clock time just before the change, e.g. 02:00.
    pub before: NaiveDateTime,
    /// The wall-clock time just after it, e.g. 03:00.
    pub after: NaiveDateTime,
}

impl ClockChange {
    /// Whether the clocks go forward (the wall-clock times between
    /// `before` and `after` never happen that day).
    pub fn forward(&self) -> bool {
        self.after > self.before
    }

    /// The wall-clock minutes of `date` the change skips (forward) or
    /// repeats (back).
    pub fn affected(&self, date: NaiveDate) -> Option<Period> {
        let (first, last) = if self.forward() {
            (self.before, self.after)
        } else {
            (self.after, self.before)
        };
        let minute = |at: NaiveDateTime| -> u32 {
            if at.date() < date {
                0
            } else if at.date() > date {
                DAY_MINUTES
            } else {
                at.hour() * 60 + at.minute()
            }
        };
        let period = Period::new(minute(first), minute(last));
        (period.start < period.end).then_some(period)
    }
}

/// Every change of `zone`'s UTC offset whose wall-clock time before or
/// after it falls on a date from `from` to `to` (both included), in order.
///
/// The offset is sampled hourly, with a day's margin each side (local and
/// UTC dates differ by up to 14 hours), and each change found is bisected
/// to the second. No zone changes its clocks twice within an hour, so no
/// change is missed; a year costs under nine thousand offset look-ups.
pub fn clock_changes(zone: Tz, from: NaiveDate, to: NaiveDate) -> Vec<ClockChange> {
    const STEP: i64 = 60 * 60;
    let offset = |at: i64| -> i64 {
        DateTime::from_timestamp(at, 0).map_or(0, |instant| {
            i64::from(
                zone.offset_from_utc_datetime(&instant.naive_utc())
                    .fix()
                    .local_minus_utc(),
            )
        })
    };
    let midnight_utc = |date: Option<NaiveDate>| {
        date.and_then(|date| date.and_hms_opt(0, 0, 0))
            .map(|at| at.and_utc().timestamp())
    };
    let (Some(start), Some(end)) = (
        midnight_utc(from.checked_sub_signed(Duration::days(1))),
        midnight_utc(to.checked_add_signed(Duration::days(2))),
    ) else {
        return Vec::new();
    };
    let mut changes = Vec::new();
    let mut at = start;
    let mut current = offset(at);
    while at < end {
        let next = at + STEP;
        let next_offset = offset(next);
        if next_offset != current {
            // The first second with the new offset lies in (at, next].
            let (mut low, mut high) = (at, next);
            while high - low > 1 {
                let middle = low + (high - low) / 2;
                if offset(middle) == current {
                    low = middle;
                } else {
                    high = middle;
                }
            }
            let wall =
                |offset: i64| DateTime::from_timestamp(high + offset, 0).map(|at| at.naive_utc());
            if let (Some(before), Some(after)) = (wall(current), wall(next_offset)) {
                let shown = |date: NaiveDate| from <= date && date <= to;
                if shown(before.date()) || shown(after.date()) {
                    changes.push(ClockChange { before, after });
                }
            }
            current = next_offset;
        }
        at = next;
    }
    changes
}

/// One date of a [`Calendar`].
#[derive(Debug, Clone)]
pub struct CalendarDay {
    /// The opening with holidays applied, and what the holidays closed.
    pub plan: DayPlan,
    /// Clock changes whose wall-clock "before" falls on this date.
    pub changes: Vec<ClockChange>,
    /// The open periods of this date a clock change touches, with the
    /// change (the skipped hour never opens, the repeated hour opens twice).
    pub change_marks: Vec<(Period, ClockChange)>,
}

/// The effective opening of one `hours` definition, day by day, in
/// wall-clock time of `zone`.
#[derive(Debug, Clone)]
pub struct Calendar {
    pub zone: Tz,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// One entry per date from `from` to `to`, in order.
    pub days: Vec<CalendarDay>,
}

impl Calendar {
    /// The calendar of `hours` (one of `rule_set`'s, whose holidays it
    /// applies) from `from` to `to`, both included.
    pub fn build(
        rule_set: &RuleSet,
        hours: &WeeklyHours,
        zone: Tz,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Calendar {
        let changes = clock_changes(zone, from, to);
        let mut days = Vec::new();
        let mut date = from;
        while date <= to {
            let plan = hours.day_plan(date, &rule_set.holidays);
            let today: Vec<ClockChange> = changes
                .iter()
                .copied()
                .filter(|change| change.before.date() == date || change.after.date() == date)
                .collect();
            let change_marks = today
                .iter()
                .filter_map(|change| change.affected(date).map(|period| (period, *change)))
                .flat_map(|(affected, change)| {
                    plan.open
                        .iter()
                        .filter_map(move |open| open.intersect(&affected).map(|p| (p, change)))
                })
                .collect();
            days.push(CalendarDay {
                plan,
                changes: today
                    .into_iter()
                    .filter(|change| change.before.date() == date)
                    .collect(),
                change_marks,
            });
            let Some(next) = date.succ_opt() else {
                break;
            };
            date = next;
        }
        Calendar {
            zone,
            from,
            to,
            days,
        }
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").unwrap()
    }

    fn change(before: &str, after: &str) -> ClockChange {
        ClockChange {
            before: at(before),
            after: at(after),
        }
    }

    #[test]
    fn paris_changes_clocks_twice_in_2026() {
        let changes = clock_changes(
            chrono_tz::Europe::Paris,
            date("2026-01-01"),
            date("2026-12-31"),
        );
        assert_eq!(
            changes,
            vec![
                change("2026-03-29 02:00", "2026-03-29 03:00"),
                change("2026-10-25 03:00", "2026-10-25 02:00"),
            ]
        );
        assert!(changes[0].forward());
        assert!(!changes[1].forward());
        assert_eq!(
            changes[0].affected(date("2026-03-29")),
            Some(Period::new(120, 180))
        );
        assert_eq!(
            changes[1].affected(date("2026-10-25")),
            Some(Period::new(120, 180))
        );
        assert_eq!(changes[0].affected(date("2026-03-30")), None);
    }

    #[test]
    fn zones_without_dst_never_change() {
        for zone in [Tz::UTC, chrono_tz::Asia::Tokyo] {
            assert!(clock_changes(zone, date("2026-01-01"), date("2026-12-31")).is_empty());
        }
    }

    #[test]
    fn southern_hemisphere_and_half_hour_changes() {
        let changes = clock_changes(
            chrono_tz::Australia::Sydney,
            date("2026-04-01"),
            date("2026-10-31"),
        );
        assert_eq!(
            changes,
            vec![
                change("2026-04-05 03:00", "2026-04-05 02:00"),
                change("2026-10-04 02:00", "2026-10-04 03:00"),
            ]
        );
        let changes = clock_changes(
            chrono_tz::Australia::Lord_Howe,
            date("2026-10-01"),
            date("2026-10-31"),
        );
        assert_eq!(
            changes,
            vec![change("2026-10-04 02:00", "2026-10-04 02:30")]
        );
    }

    #[test]
    fn changes_on_the_edges_of_the_range_are_kept_and_none_beyond() {
        let paris = chrono_tz::Europe::Paris;
        let on_the_day = clock_changes(paris, date("2026-03-29"), date("2026-03-29"));
        assert_eq!(on_the_day.len(), 1);
        assert!(clock_changes(paris, date("2026-03-30"), date("2026-10-24")).is_empty());
        assert!(clock_changes(paris, date("2026-03-01"), date("2026-03-28")).is_empty());
    }
}
