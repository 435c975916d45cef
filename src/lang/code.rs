//! Diagnostic codes: the one list of what `check` can report.
//!
//! Each code has a stable kebab-case text (shown in brackets by the
//! renderer and as `code` in JSON output), a severity (a code is always an
//! error or always a warning) and a one-line meaning. The README's code
//! table is this list: a test compares the two, row by row.

use std::fmt;

use super::diagnostic::Severity;

/// Why a diagnostic was emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    Syntax,
    Nesting,
    Internal,
    UnknownName,
    WrongKind,
    DuplicateDefinition,
    DuplicateTimezone,
    UnknownTimeZone,
    InvalidTime,
    InvalidDate,
    EmptyWindow,
    InvalidPhoneNumber,
    NumberIdTransfer,
    InvalidEmail,
    UnknownCountry,
    InvalidRegex,
    TypeMismatch,
    UnsupportedOperator,
    UnknownSubject,
    RingingNotTeam,
    UnusedDefinition,
    UnreachableRule,
    NeverMatches,
    DuplicateRuleName,
    DstGap,
}

impl Code {
    /// Every code, in the order of the README table.
    pub const ALL: [Code; 25] = [
        Code::Syntax,
        Code::Nesting,
        Code::Internal,
        Code::UnknownName,
        Code::WrongKind,
        Code::DuplicateDefinition,
        Code::DuplicateTimezone,
        Code::UnknownTimeZone,
        Code::InvalidTime,
        Code::InvalidDate,
        Code::EmptyWindow,
        Code::InvalidPhoneNumber,
        Code::NumberIdTransfer,
        Code::InvalidEmail,
        Code::UnknownCountry,
        Code::InvalidRegex,
        Code::TypeMismatch,
        Code::UnsupportedOperator,
        Code::UnknownSubject,
        Code::RingingNotTeam,
        Code::UnusedDefinition,
        Code::UnreachableRule,
        Code::NeverMatches,
        Code::DuplicateRuleName,
        Code::DstGap,
    ];

    /// The stable text of the code, e.g. `unknown-name`.
    pub const fn as_str(self) -> &'static str {
        self.info().0
    }

    /// Whether a diagnostic with this code blocks the rule set.
    pub const fn severity(self) -> Severity {
        self.info().1
    }

    /// What the code means, as the README's table says it.
    pub const fn meaning(self) -> &'static str {
        self.info().2
    }

    /// The code with this text, if there is one.
    pub fn from_text(text: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|code| code.as_str() == text)
    }

    // One match holds each code's three facts, so that adding a code means
    // filling in all of them (the README test then asks for its row).
    #[rustfmt::skip]
    const fn info(self) -> (&'static str, Severity, &'static str) {
        use Severity::{Error, Warning};
        match self {
            Code::Syntax => ("syntax", Error, "The file cannot be read as rules: \"expected a day such as `mon` or a range such as `mon-fri`, found `mnday`\". Every broken item is reported."),
            Code::Nesting => ("nesting", Error, "A condition nests more than 64 levels of parentheses and `not` (a limit that keeps the parser's stack bounded)."),
            Code::Internal => ("internal", Error, "A bug in Switchboard, not in the rules: the parser produced a shape the grammar rules out. Please report it with the file."),
            Code::UnknownName => ("unknown-name", Error, "A name no definition of the right kind has; suggests a close one."),
            Code::WrongKind => ("wrong-kind", Error, "A name of another kind (`within hours bank` where `bank` is holidays)."),
            Code::DuplicateDefinition => ("duplicate-definition", Error, "A name defined twice (all files of a set share names)."),
            Code::DuplicateTimezone => ("duplicate-timezone", Error, "Two `timezone` lines in one file."),
            Code::UnknownTimeZone => ("unknown-time-zone", Error, "Not an IANA zone; suggests a close one (`Europe/Pari` → `Europe/Paris`)."),
            Code::InvalidTime => ("invalid-time", Error, "`25:00`, `18:60`, `24:00` as a start."),
            Code::InvalidDate => ("invalid-date", Error, "`2026-02-30`, `every 02-30`, a range ending before it starts."),
            Code::EmptyWindow => ("empty-window", Error, "`08:00-08:00`."),
            Code::InvalidPhoneNumber => ("invalid-phone-number", Error, "Not a phone number, or a transfer number not written as E.164."),
            Code::NumberIdTransfer => ("number-id-transfer", Error, "A transfer to a `number` alias given by id (transfers need digits)."),
            Code::InvalidEmail => ("invalid-email", Error, "An agent e-mail that is not one."),
            Code::UnknownCountry => ("unknown-country", Error, "A `caller.country` value that is not an ISO 3166 code."),
            Code::InvalidRegex => ("invalid-regex", Error, "A `matches` pattern the regex engine rejects."),
            Code::TypeMismatch => ("type-mismatch", Error, "A comparison with a value of the wrong kind (`caller.country == 12`)."),
            Code::UnsupportedOperator => ("unsupported-operator", Error, "An operator the subject does not have (`number starts with ...`)."),
            Code::UnknownSubject => ("unknown-subject", Error, "Not `number`, `caller`, `caller.country`, `contact.FIELD` or `last_agent`; suggests one."),
            Code::RingingNotTeam => ("ringing-not-team", Error, "`ringing` on a target that is not a team."),
            Code::UnusedDefinition => ("unused-definition", Warning, "A definition no rule uses."),
            Code::UnreachableRule => ("unreachable-rule", Warning, "An earlier rule always matches first."),
            Code::NeverMatches => ("never-matches", Warning, "A condition that is always false (`X and not X`)."),
            Code::DuplicateRuleName => ("duplicate-rule-name", Warning, "Two rules with one name."),
            Code::DstGap => ("dst-gap", Warning, "A window boundary that does not exist on a day of the next 12 months in its zone."),
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Lets tests and tools write `diagnostic.code == "unknown-name"`.
impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for Code {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn codes_are_kebab_case_unique_and_found_by_their_text() {
        let mut seen = HashSet::new();
        for code in Code::ALL {
            let text = code.as_str();
            assert!(
                text.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{text}"
            );
            assert!(seen.insert(text), "{text} twice");
            assert_eq!(Code::from_text(text), Some(code));
        }
        assert_eq!(Code::from_text("nope"), None);
    }

    /// `ALL` lists the variants in declaration order without gaps, so a
    /// variant inserted anywhere but at the end and missing from `ALL`
    /// shifts the discriminants and fails here.
    #[test]
    fn all_is_every_variant_in_order() {
        for (index, code) in Code::ALL.into_iter().enumerate() {
            assert_eq!(code as usize, index, "{code}");
        }
    }
}
