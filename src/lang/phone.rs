//! Phone numbers in E.164, the one form rules, webhooks and company data
//! are compared in.
//!
//! Aircall sends display formats (`"+44 330 818 6690"`), companies store
//! anything (`0033 1 76 36 06 95`, `(800) 123-4567`); both sides go through
//! [`normalize`] before they meet.

use phonenumber::{country, Mode};

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

/// Whether `text` is already written as E.164: `+` then 8 to 15 digits with
/// no separators, and a valid number.
pub fn is_strict_e164(text: &str) -> bool {
    let Some(digits) = text.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && normalize(text, None).is_some_and(|n| n.e164 == text)
}

#[cfg(test)]
mod tests {
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
    fn strict_e164() {
        // Aircall's tutorial number: not allocated, but dialable E.164.
        assert!(is_strict_e164("+18001234567"));
        assert!(!is_strict_e164("+1 800 123 4567"));
        assert!(!is_strict_e164("18001234567"));
    }
}
