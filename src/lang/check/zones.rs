//! Time zones: a file's `timezone` line and a test's `in "Zone"`.
//!
//! Names are IANA names as chrono-tz knows them (case matters, as in the
//! tz database); a near miss gets a suggestion. Deciding which zone a test
//! reads the clock in happens here; the DST-gap warning is in `dst.rs`.

use std::collections::HashMap;
use std::str::FromStr;

use chrono_tz::Tz;

use super::Checker;
use crate::lang::ast;
use crate::lang::code::Code;
use crate::lang::diagnostic::Diagnostic;
use crate::lang::rule_set::ZoneChoice;
use crate::lang::span::{FileId, Spanned};
use crate::lang::suggest;

impl Checker<'_> {
    /// The `timezone` of each file that has a valid one. It applies to every
    /// rule of its file, wherever the line stands.
    pub(super) fn file_zones(&mut self, files: &[ast::File]) -> HashMap<FileId, Tz> {
        let mut zones = HashMap::new();
        for file in files {
            let mut first: Option<&Spanned<String>> = None;
            for item in &file.items {
                let ast::Item::Timezone(name) = item else {
                    continue;
                };
                if let Some(first) = first {
                    self.report(
                        Diagnostic::new(
                            Code::DuplicateTimezone,
                            name.span,
                            "this file already has a `timezone`",
                        )
                        .with_help(
                            "keep one `timezone` line per file; a test can use another zone \
                             with `in \"Zone\"`",
                        )
                        .with_note(first.span, "the first `timezone` of this file"),
                    );
                    continue;
                }
                first = Some(name);
                if let Some(zone) = self.zone(name) {
                    zones.insert(file.id, zone);
                }
            }
        }
        zones
    }

    /// Parses an IANA time zone name, reporting an unknown one.
    pub(super) fn zone(&mut self, name: &Spanned<String>) -> Option<Tz> {
        if let Ok(zone) = Tz::from_str(&name.node) {
            return Some(zone);
        }
        let mut diagnostic = Diagnostic::new(
            Code::UnknownTimeZone,
            name.span,
            format!("unknown time zone {}", self.text(name.span)),
        );
        diagnostic = match suggest::closest_time_zone(&name.node) {
            Some(found) => diagnostic.with_help(suggest::did_you_mean(found)),
            None => diagnostic.with_help(
                "use an IANA time zone name such as \"Europe/Paris\" or \"America/New_York\"",
            ),
        };
        self.report(diagnostic);
        None
    }

    /// The zone a time test reads the clock in: its own `in "Zone"`, else
    /// the file's `timezone`, else the call's.
    pub(super) fn zone_choice(
        &mut self,
        own: Option<&Spanned<String>>,
        file_zone: Option<Tz>,
    ) -> ZoneChoice {
        let own = own.and_then(|name| self.zone(name));
        match own.or(file_zone) {
            Some(zone) => ZoneChoice::Fixed(zone),
            None => ZoneChoice::FromCall,
        }
    }
}
