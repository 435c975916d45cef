//! Phone numbers in E.164, the one form rules, webhooks and company data
//! are compared in.
//!
//! Aircall sends display formats (`"+44 330 818 6690"`), companies store
//! anything (`0033 1 76 36 06 95`, `(800) 123-4567`); both sides go through
//! [`normalize`] before they meet.

use phonenumber::{country, Mode};

include!(concat!(env!("OUT_DIR"), "/country_codes.rs"));

/// A phone number in E.164 with its region, when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    pub e164: String,
    pub country: Option<String>,
}

/// Normalises `raw` to E.164.
///
/// Numbers with a leading `+` or `00` are read as international. Others are
/// read as national numbers of `default_region` (an ISO 3166 code such as
/// `FR`) when one is given. Returns `None` for `anonymous`, for text that is
/// not a phone number, and for numbers that no numbering plan allows.
pub fn normalize(raw: &str, default_region: Option<&str>) -> Option<Normalized> {
    // Webhooks bring a number in international format on every call:
    // answer those without libphonenumber when its answer is certain
    // (about 10 µs saved per number; the test below holds the two equal).
    if let Some(normalized) = international_normalized(raw) {
        return Some(normalized);
    }
    normalize_with_metadata(raw, default_region)
}

/// [`normalize`] by libphonenumber alone.
fn normalize_with_metadata(raw: &str, default_region: Option<&str>) -> Option<Normalized> {
    let trimmed = raw.trim();
    if trimmed.is_empty() || trimmed.eq_ignore_ascii_case("anonymous") {
        return None;
    }
    // `0033...` is the international prefix used in most of Europe.
    let international;
    let text = match trimmed.strip_prefix("00") {
        Some(rest) if !trimmed.starts_with("000") => {
            international = format!("+{rest}");
            international.as_str()
        }
        _ => trimmed,
    };
    let region = if text.starts_with('+') {
        None
    } else {
        default_region.and_then(|code| code.to_ascii_uppercase().parse::<country::Id>().ok())
    };
    let number = phonenumber::parse(region, text).ok()?;
    // Full validation (`is_valid`) rejects numbers whose exchange is not
    // allocated yet, such as the fictional `+1 800 123 4567` of Aircall's
    // own tutorial; a transfer target only needs to be a dialable E.164
    // number: a known country code and a plausible length (E.164 allows at
    // most 15 digits in all).
    let country_code_digits = number.code().value().to_string().len();
    let national_digits = number.national().value().to_string().len();
    let plausible =
        (4..=14).contains(&national_digits) && country_code_digits + national_digits <= 15;
    if !(phonenumber::is_valid(&number) || plausible) {
        return None;
    }
    let e164 = number.format().mode(Mode::E164).to_string();
    let country = number
        .country()
        .id()
        .map(|id| AsRef::<str>::as_ref(&id).to_owned());
    Some(Normalized { e164, country })
}

/// Normalises `raw` to E.164 without its region.
///
/// Same answer as [`normalize`]`(..).e164`, but a number written in
/// international format with plain separators (`+33 1 76 36 06 95`,
/// `0033-1-76-36-06-95`) is handled without loading libphonenumber's
/// metadata, which costs about 100 ms the first time: `check` validates
/// every number of a rules file this way.
pub fn to_e164(raw: &str, default_region: Option<&str>) -> Option<String> {
    if let Some(e164) = international_e164(raw) {
        return Some(e164);
    }
    normalize(raw, default_region).map(|n| n.e164)
}

/// The fast path of [`normalize`]: an international number (see
/// [`international_e164`]) whose country code belongs to one region only,
/// which is then the number's region whatever its digits (libphonenumber
/// looks at the digits only to tell apart the regions sharing a code, such
/// as the US and Canada under `+1`).
fn international_normalized(raw: &str) -> Option<Normalized> {
    let e164 = international_e164(raw)?;
    let digits = e164.get(1..)?;
    let region = (1..=3).find_map(|len| {
        let code = digits.get(..len)?.parse::<u16>().ok()?;
        let at = SINGLE_REGION
            .binary_search_by_key(&code, |&(code, _, _)| code)
            .ok()?;
        let (_, region, prefix) = SINGLE_REGION[at];
        let national = digits.get(len..)?;
        // libphonenumber would strip a national prefix (or leading zeros)
        // written after the country code: leave those numbers to it.
        let stripped =
            national.starts_with('0') || (!prefix.is_empty() && national.starts_with(prefix));
        (!stripped).then_some(region)
    })?;
    Some(Normalized {
        e164,
        country: (!region.is_empty()).then(|| region.to_owned()),
    })
}

/// The fast path of [`to_e164`]: `+` or `00`, then digits and separators.
/// `None` means "ask libphonenumber" (other formats, such as `+44 (0)20 ...`,
/// or a number the plausibility test rejects).
fn international_e164(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    let rest = match trimmed.strip_prefix('+') {
        Some(rest) => rest,
        None if trimmed.starts_with("00") && !trimmed.starts_with("000") => trimmed.get(2..)?,
        None => return None,
    };
    if rest.contains("(0)") {
        return None;
    }
    let mut digits = String::with_capacity(rest.len() + 1);
    digits.push('+');
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' | '/' => {}
            _ => return None,
        }
    }
    let number = digits.get(1..)?;
    if number.starts_with('0') {
        // No country code starts with 0: not an international number.
        return None;
    }
    // ITU country codes are prefix-free: at most one of these matches.
    let code_len = (1..=3).find(|&len| {
        number
            .get(..len)
            .and_then(|code| code.parse::<u16>().ok())
            .is_some_and(|code| COUNTRY_CODES.binary_search(&code).is_ok())
    })?;
    let national_len = number.len() - code_len;
    ((4..=14).contains(&national_len) && number.len() <= 15).then_some(digits)
}

/// Whether `text` is already written as E.164: `+` then 8 to 15 digits with
/// no separators, and a dialable number.
pub fn is_strict_e164(text: &str) -> bool {
    let Some(digits) = text.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && to_e164(text, None).is_some_and(|e164| e164 == text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, reason = "tests")]
    use super::*;

    #[test]
    fn normalizes_display_formats() {
        let n = normalize("+44 330 818 6690", None).expect("valid");
        assert_eq!(n.e164, "+443308186690");
        assert_eq!(n.country.as_deref(), Some("GB"));
        let n = normalize("0033 1 76 36 06 95", None).expect("valid");
        assert_eq!(n.e164, "+33176360695");
        assert_eq!(n.country.as_deref(), Some("FR"));
        let n = normalize("01 76 36 06 95", Some("FR")).expect("valid");
        assert_eq!(n.e164, "+33176360695");
    }

    #[test]
    fn anonymous_and_garbage_are_not_numbers() {
        assert_eq!(normalize("anonymous", None), None);
        assert_eq!(normalize("hello", None), None);
        assert_eq!(normalize("", None), None);
        assert_eq!(normalize("+1", None), None);
        assert_eq!(normalize("+999 1234 5678", None), None);
        assert_eq!(normalize("+33 1234567890123456", None), None);
    }

    #[test]
    fn the_fast_path_agrees_with_libphonenumber() {
        for raw in [
            "+44 330 818 6690",
            "+43 720 880079",
            "0033 1 76 36 06 95",
            "+1 (800) 123-4567",
            "+34.912.345.678",
            "+52 55 1234 5678",
            "+999 1234 5678",
            "+1",
            "+33 1234567890123456",
            "+44 (0)20 7946 0958",
            "+01 76 36 06 95",
        ] {
            assert_eq!(
                to_e164(raw, None),
                normalize(raw, None).map(|n| n.e164),
                "{raw}"
            );
        }
        assert!(COUNTRY_CODES.contains(&33) && COUNTRY_CODES.contains(&1));
        assert!(!COUNTRY_CODES.contains(&999));
    }

    #[test]
    fn the_fast_region_agrees_with_libphonenumber() {
        // Every country code, with national parts of several shapes
        // (mobile-like, geographic-like, a leading trunk zero, short, long).
        let nationals = [
            "612345678",
            "212345678",
            "0612345678",
            "06 1234 5678",
            "20 7946 0958",
            "8001234567",
            "4567",
            "123456789012",
            "9",
        ];
        let mut fast = 0;
        for &code in COUNTRY_CODES {
            for national in nationals {
                for raw in [
                    format!("+{code} {national}"),
                    format!("00{code}-{national}"),
                ] {
                    let expected = normalize_with_metadata(&raw, None);
                    assert_eq!(normalize(&raw, None), expected, "{raw}");
                    fast += usize::from(international_normalized(&raw).is_some());
                }
            }
        }
        // The fast path does answer most of them.
        assert!(fast > COUNTRY_CODES.len() * 8, "{fast}");
        for raw in ["+33 6 12 34 56 78", "+34 912 34 56 78", "+44 330 818 6690"] {
            assert_eq!(
                normalize(raw, None),
                normalize_with_metadata(raw, None),
                "{raw}"
            );
        }
        assert!(international_normalized("+33 6 12 34 56 78").is_some());
        // Shared codes are left to libphonenumber.
        assert!(international_normalized("+1 800 123 4567").is_none());
        assert!(international_normalized("+44 330 818 6690").is_none());
    }

    #[test]
    fn strict_e164() {
        // Aircall's tutorial number: not allocated, but dialable E.164.
        assert!(is_strict_e164("+18001234567"));
        assert!(!is_strict_e164("+1 800 123 4567"));
        assert!(!is_strict_e164("18001234567"));
    }
}
