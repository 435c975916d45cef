//! "Did you mean ...?": the closest known name to a misspelt one.
//!
//! A suggestion is offered only within a small edit distance that grows
//! with the length of the name, so a short typo gets a fix and an unrelated
//! word gets nothing (an always-answering fuzzy match misleads more than it
//! helps). Comparison ignores ASCII case, so `europe/paris` finds
//! `Europe/Paris`. This module only ranks strings: it knows nothing about
//! rules, kinds of names or diagnostics.

/// The largest edit distance accepted for a name of `len` characters.
fn threshold(len: usize) -> usize {
    match len {
        0..=4 => 1,
        5..=8 => 2,
        _ => 3,
    }
}

/// The edit distance (with transpositions) between two names, ignoring
/// ASCII case.
pub fn distance(a: &str, b: &str) -> usize {
    strsim::damerau_levenshtein(&a.to_ascii_lowercase(), &b.to_ascii_lowercase())
}

/// The candidate closest to `name`, if one is close enough.
///
/// Ties go to the candidate that comes first, so callers that want stable
/// output should pass candidates in a stable order. A candidate equal to
/// `name` (exactly) is never suggested: the caller is looking for something
/// other than what was written.
pub fn closest<'a, I>(name: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let limit = threshold(name.chars().count());
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        if candidate == name {
            continue;
        }
        // A cheap lower bound: the distance is at least the length gap.
        if candidate.len().abs_diff(name.len()) > limit {
            continue;
        }
        let d = distance(name, candidate);
        if d <= limit && best.is_none_or(|(best_d, _)| d < best_d) {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// The IANA time zone closest to `name`: a near miss of a full name
/// (`Europe/Pari`), or of its last part alone (`Paris`, `New York`).
pub fn closest_time_zone(name: &str) -> Option<&'static str> {
    let names = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name());
    if let Some(found) = closest(name, names) {
        return Some(found);
    }
    if name.contains('/') {
        return None;
    }
    // Only canonical area/city names, so `Paris` finds `Europe/Paris`
    // rather than a legacy alias.
    let wanted = name.replace(' ', "_");
    let mut best: Option<(usize, &'static str)> = None;
    for tz in chrono_tz::TZ_VARIANTS {
        let full = tz.name();
        let Some((area, city)) = full.rsplit_once('/') else {
            continue;
        };
        if area.contains('/') || area == "Etc" || area == "US" {
            continue;
        }
        let d = distance(&wanted, city);
        if d <= threshold(wanted.chars().count()) && best.is_none_or(|(best_d, _)| d < best_d) {
            best = Some((d, full));
        }
    }
    best.map(|(_, full)| full)
}

/// `did you mean `x`?`, the help line shared by every suggestion.
pub fn did_you_mean(suggestion: &str) -> String {
    format!("did you mean `{suggestion}`?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["office", "lunch", "night"];
        assert_eq!(closest("ofice", names), Some("office"));
        assert_eq!(closest("ofifce", names), Some("office"));
        assert_eq!(closest("lnuch", names), Some("lunch"));
        assert_eq!(closest("weekend", names), None);
        assert_eq!(closest("office", names), None);
    }

    #[test]
    fn short_names_need_a_close_match() {
        assert_eq!(closest("ab", ["abc", "xyz"]), Some("abc"));
        assert_eq!(closest("ab", ["xyz"]), None);
    }

    #[test]
    fn the_closest_candidate_wins() {
        assert_eq!(
            closest("caler", ["caller.country", "caller"]),
            Some("caller")
        );
    }

    #[test]
    fn time_zones_by_full_name_case_or_city() {
        assert_eq!(closest_time_zone("Europe/Pari"), Some("Europe/Paris"));
        assert_eq!(closest_time_zone("europe/paris"), Some("Europe/Paris"));
        assert_eq!(
            closest_time_zone("America/New_Yrok"),
            Some("America/New_York")
        );
        assert_eq!(closest_time_zone("Paris"), Some("Europe/Paris"));
        assert_eq!(closest_time_zone("New York"), Some("America/New_York"));
        assert_eq!(closest_time_zone("Mars/Olympus_Mons"), None);
    }
}
