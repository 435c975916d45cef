//! The DST-gap warning: a window boundary that falls in the hour (or so)
//! that clocks skip when daylight-saving time starts.
//!
//! Such a time never happens that day, so the window silently opens later
//! or closes earlier than written. Gaps are computed from chrono-tz's
//! tables for the 12 months from `CheckOptions::today` (never from the
//! clock) by [`clock_changes`], the function the calendar uses, once per
//! zone, and only for the zones time tests actually fix:
//! with the zone taken from the call, the checker cannot know it.

use std::collections::HashMap;

use chrono::{Months, NaiveDate, NaiveDateTime, TimeDelta};
use chrono_tz::Tz;

use super::times::weekday_index;
use super::Checker;
use crate::lang::calendar::{clock_changes, ClockChange};
use crate::lang::code::Code;
use crate::lang::diagnostic::Diagnostic;

/// The clock changes of `zone` that skip wall-clock times (`[before,
/// after)` never happens), starting on a local date in `[first, last)`.
pub(super) fn gaps(zone: Tz, first: NaiveDate, last: NaiveDate) -> Vec<ClockChange> {
    clock_changes(zone, first, last)
        .into_iter()
        .filter(|change| change.forward() && (first..last).contains(&change.before.date()))
        .collect()
}

fn clock(time: NaiveDateTime) -> String {
    time.format("%H:%M").to_string()
}

impl Checker<'_> {
    /// Warns, once per boundary and zone, about window boundaries inside a
    /// DST gap of the zone a time test reads them in.
    pub(super) fn warn_dst_gaps(&mut self) {
        let first = self.options.today;
        let last = first
            .checked_add_months(Months::new(12))
            .unwrap_or(NaiveDate::MAX);
        let mut gaps_by_zone: HashMap<Tz, Vec<ClockChange>> = HashMap::new();
        let mut found = Vec::new();
        for &(hours, zone) in &self.zoned_hours {
            let zone_gaps = gaps_by_zone
                .entry(zone)
                .or_insert_with(|| gaps(zone, first, last));
            let Some(boundaries) = self.boundaries.get(hours) else {
                continue;
            };
            for boundary in boundaries {
                let hit = zone_gaps.iter().find_map(|gap| {
                    gap.before
                        .date()
                        .iter_days()
                        .take_while(|date| *date <= gap.after.date())
                        .filter(|date| boundary.days.get(weekday_index(*date)) == Some(&true))
                        .map(|date| {
                            date.and_time(chrono::NaiveTime::MIN)
                                + TimeDelta::minutes(i64::from(boundary.minute))
                        })
                        .find(|time| gap.before <= *time && *time < gap.after)
                        .map(|time| (time, *gap))
                });
                if let Some((time, gap)) = hit {
                    found.push((boundary.clone(), time, gap, zone));
                }
            }
        }
        for (boundary, time, gap, zone) in found {
            let help = if boundary.is_start {
                format!(
                    "that day the window opens at {} instead, once the clocks have jumped",
                    clock(gap.after)
                )
            } else {
                format!(
                    "that day the window closes at {} instead, when the clocks jump",
                    clock(gap.before)
                )
            };
            self.report(
                Diagnostic::new(
                    Code::DstGap,
                    boundary.span,
                    format!(
                        "{} does not exist on {} in {}: clocks jump from {} to {}",
                        clock(time),
                        time.format("%a %-d %b %Y"),
                        zone.name(),
                        clock(gap.before),
                        clock(gap.after)
                    ),
                )
                .with_help(help),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        date(y, m, d).and_hms_opt(h, min, 0).unwrap()
    }

    #[test]
    fn paris_springs_forward_on_the_last_sunday_of_march() {
        let found = gaps(chrono_tz::Europe::Paris, date(2026, 1, 1), date(2027, 1, 1));
        assert_eq!(
            found,
            vec![ClockChange {
                before: at(2026, 3, 29, 2, 0),
                after: at(2026, 3, 29, 3, 0),
            }]
        );
    }

    #[test]
    fn new_york_and_sydney() {
        let found = gaps(
            chrono_tz::America::New_York,
            date(2026, 1, 1),
            date(2027, 1, 1),
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].before, at(2026, 3, 8, 2, 0));
        assert_eq!(found[0].after, at(2026, 3, 8, 3, 0));
        let found = gaps(
            chrono_tz::Australia::Sydney,
            date(2026, 1, 1),
            date(2027, 1, 1),
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].before, at(2026, 10, 4, 2, 0));
    }

    #[test]
    fn zones_without_dst_have_no_gaps() {
        assert!(gaps(chrono_tz::UTC, date(2026, 1, 1), date(2027, 1, 1)).is_empty());
        assert!(gaps(chrono_tz::Asia::Tokyo, date(2026, 1, 1), date(2027, 1, 1)).is_empty());
    }

    #[test]
    fn gaps_outside_the_period_are_left_out() {
        let found = gaps(chrono_tz::Europe::Paris, date(2026, 4, 1), date(2027, 3, 1));
        assert!(found.is_empty());
    }
}
