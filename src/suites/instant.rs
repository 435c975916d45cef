//! The `at:` of a test case: an instant written the way operators think of
//! one, a local time and a zone (`2026-12-24T15:30 Europe/Paris`), or an
//! RFC 3339 instant (`2026-12-24T15:30:00+01:00`).
//!
//! Pure: no clock, no files.

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::lang::suggest;

/// Parses a time zone name, with a suggestion when it is a near miss.
pub fn parse_zone(name: &str) -> Result<Tz, String> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| match suggest::closest_time_zone(name.trim()) {
            Some(found) => format!(
                "unknown time zone `{}`; {}",
                name.trim(),
                suggest::did_you_mean(found)
            ),
            None => format!(
                "unknown time zone `{}` (use an IANA name such as `Europe/Paris`)",
                name.trim()
            ),
        })
}

/// Parses `at`. Accepted forms:
/// - `2026-12-24T15:30 Europe/Paris`, `2026-12-24 15:30:05 Europe/Paris`:
///   a wall-clock time in a zone;
/// - `2026-12-24T15:30`: a wall-clock time in `default_zone` (the suite's
///   `zone`, else the rules' `timezone`);
/// - `2026-12-24T15:30:00+01:00`, `2026-12-24T14:30Z`: an exact instant.
///
/// A wall-clock time that does not exist (in the hour skipped when clocks
/// go forward) is an error; one that occurs twice (when clocks go back) is
/// the first occurrence: write an offset to mean the second.
pub fn parse_instant(text: &str, default_zone: Option<Tz>) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    let mut words: Vec<&str> = text.split_whitespace().collect();
    // `2026-12-24 15:30 Europe/Paris`: the date and the time as two words.
    let joined;
    if let [date, time, ..] = words.as_slice() {
        if date.len() == 10 && time.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            joined = format!("{date}T{time}");
            words.splice(0..2, [joined.as_str()]);
        }
    }
    let (stamp, zone) = match words.as_slice() {
        [stamp] => (*stamp, None),
        [stamp, zone] => (*stamp, Some(*zone)),
        _ => return Err(usage(text)),
    };

    if let Some(instant) = parse_with_offset(stamp) {
        if zone.is_some() {
            return Err(format!(
                "`{text}` has both an offset and a zone; give one of them"
            ));
        }
        return Ok(instant.with_timezone(&Utc));
    }
    let local = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(stamp, format).ok())
        .ok_or_else(|| usage(text))?;
    let zone = match zone {
        Some(name) => parse_zone(name)?,
        None => default_zone.ok_or_else(|| {
            format!(
                "`{text}` has no zone: write one (`{stamp} Europe/Paris`), an offset, \
                 or set `zone:` for the whole file"
            )
        })?,
    };
    match zone.from_local_datetime(&local) {
        LocalResult::Single(instant) => Ok(instant.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Ok(first.with_timezone(&Utc)),
        LocalResult::None => Err(format!(
            "{} does not exist in {} (the clocks go forward then)",
            local.format("%Y-%m-%d %H:%M"),
            zone.name()
        )),
    }
}

fn parse_with_offset(stamp: &str) -> Option<DateTime<FixedOffset>> {
    if let Ok(instant) = DateTime::parse_from_rfc3339(stamp) {
        return Some(instant);
    }
    // RFC 3339 without seconds, which people write all the time.
    let stamp = match stamp.strip_suffix(['Z', 'z']) {
        Some(rest) => format!("{rest}+00:00"),
        None => stamp.to_owned(),
    };
    DateTime::parse_from_str(&stamp, "%Y-%m-%dT%H:%M%:z").ok()
}

fn usage(text: &str) -> String {
    format!(
        "cannot read `{text}` as an instant: write `2026-12-24T15:30 Europe/Paris`, \
         `2026-12-24T15:30` (with a default zone) or RFC 3339 (`2026-12-24T15:30:00+01:00`)"
    )
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn local_time_in_a_zone() {
        assert_eq!(
            parse_instant("2026-12-24T15:30 Europe/Paris", None).unwrap(),
            utc("2026-12-24T14:30:00Z")
        );
        assert_eq!(
            parse_instant("2026-07-14 09:00:30 Europe/Paris", None).unwrap(),
            utc("2026-07-14T07:00:30Z")
        );
        let paris: Tz = "Europe/Paris".parse().unwrap();
        assert_eq!(
            parse_instant("2026-12-24T15:30", Some(paris)).unwrap(),
            utc("2026-12-24T14:30:00Z")
        );
    }

    #[test]
    fn offsets_and_utc() {
        assert_eq!(
            parse_instant("2026-12-24T15:30:00+01:00", None).unwrap(),
            utc("2026-12-24T14:30:00Z")
        );
        assert_eq!(
            parse_instant("2026-12-24T15:30+01:00", None).unwrap(),
            utc("2026-12-24T14:30:00Z")
        );
        assert_eq!(
            parse_instant("2026-12-24T14:30Z", None).unwrap(),
            utc("2026-12-24T14:30:00Z")
        );
        let error = parse_instant("2026-12-24T15:30+01:00 Europe/Paris", None).unwrap_err();
        assert!(error.contains("both an offset and a zone"), "{error}");
    }

    #[test]
    fn dst_gaps_are_errors_and_repeated_hours_take_the_first() {
        let error = parse_instant("2026-03-29T02:30 Europe/Paris", None).unwrap_err();
        assert_eq!(
            error,
            "2026-03-29 02:30 does not exist in Europe/Paris (the clocks go forward then)"
        );
        assert_eq!(
            parse_instant("2026-10-25T02:30 Europe/Paris", None).unwrap(),
            utc("2026-10-25T00:30:00Z")
        );
    }

    #[test]
    fn problems_are_named() {
        let error = parse_instant("2026-12-24T15:30", None).unwrap_err();
        assert!(error.contains("has no zone"), "{error}");
        let error = parse_instant("2026-12-24T15:30 Europe/Pari", None).unwrap_err();
        assert!(error.contains("did you mean `Europe/Paris`?"), "{error}");
        let error = parse_instant("christmas eve", None).unwrap_err();
        assert!(error.starts_with("cannot read `christmas eve`"), "{error}");
    }
}
