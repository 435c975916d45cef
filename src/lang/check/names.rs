//! Definitions and the one namespace they share across every file of a
//! rule set: collecting them, lowering them, resolving uses, and the
//! warnings about definitions nothing uses.
//!
//! Lookups are hash lookups; "did you mean" runs only when a name is
//! unknown, over the definitions of the kinds that would fit.

use std::collections::HashMap;

use chrono_tz::Tz;

use super::{looks_like_email, Checker, NumberAlias};
use crate::lang::ast::{self, DefinitionValue, IdOrText};
use crate::lang::call::{TeamRef, UserRef};
use crate::lang::code::Code;
use crate::lang::diagnostic::Diagnostic;
use crate::lang::span::{FileId, Span};
use crate::lang::suggest;
pub(super) use crate::lang::symbols::Kind;
use crate::lang::symbols::{NumberValue, Symbol, SymbolValue, Symbols};

/// A definition in the namespace.
#[derive(Debug)]
struct Entry<'a> {
    name: &'a str,
    kind: Kind,
    /// Index into the checker's lowered values of this kind.
    slot: usize,
    /// The name where it is defined.
    span: Span,
    used: bool,
}

/// A name resolved to its definition.
#[derive(Debug, Clone, Copy)]
pub(super) struct Resolved {
    pub(super) kind: Kind,
    pub(super) slot: usize,
    /// Where the definition's name is written.
    pub(super) span: Span,
}

/// The namespace of one rule set.
#[derive(Debug, Default)]
pub(super) struct Names<'a> {
    /// First definitions, in source order.
    entries: Vec<Entry<'a>>,
    by_name: HashMap<&'a str, usize>,
}

impl<'a> Names<'a> {
    /// Looks a name up and marks its definition as used.
    pub(super) fn lookup(&mut self, name: &str) -> Option<Resolved> {
        let index = *self.by_name.get(name)?;
        let entry = self.entries.get_mut(index)?;
        entry.used = true;
        Some(Resolved {
            kind: entry.kind,
            slot: entry.slot,
            span: entry.span,
        })
    }

    /// Names of the given kinds, in definition order.
    fn names_of<'s>(&'s self, kinds: &'s [Kind]) -> impl Iterator<Item = &'a str> + 's {
        self.entries
            .iter()
            .filter(move |entry| kinds.contains(&entry.kind))
            .map(|entry| entry.name)
    }

    /// The defined name of one of `kinds` closest to `name`, if close enough.
    pub(super) fn closest(&self, name: &str, kinds: &[Kind]) -> Option<&'a str> {
        suggest::closest(name, self.names_of(kinds))
    }

    fn has_kind(&self, kinds: &[Kind]) -> bool {
        self.entries.iter().any(|entry| kinds.contains(&entry.kind))
    }
}

/// Every definition of every file, in order.
fn definitions(files: &[ast::File]) -> impl Iterator<Item = &ast::Definition> {
    files.iter().flat_map(|file| {
        file.items.iter().filter_map(|item| match item {
            ast::Item::Definition(definition) => Some(definition),
            _ => None,
        })
    })
}

/// Hands out slots per kind in definition order; both passes over the
/// definitions use one so that slots agree.
#[derive(Debug, Default)]
struct Slots([usize; 5]);

impl Slots {
    fn next(&mut self, kind: Kind) -> usize {
        let counter = &mut self.0[kind as usize];
        let slot = *counter;
        *counter += 1;
        slot
    }
}

impl<'a> Checker<'a> {
    /// First pass: enter every definition in the namespace (so a name can be
    /// used before, or in another file than, its definition) and report
    /// duplicates.
    pub(super) fn collect_definitions(&mut self, files: &'a [ast::File]) {
        let mut slots = Slots::default();
        for definition in definitions(files) {
            let kind = Kind::of(&definition.value);
            let slot = slots.next(kind);
            let name = definition.name.node.as_str();
            if let Some(&first) = self.names.by_name.get(name) {
                let (first_span, first_kind) = self
                    .names
                    .entries
                    .get(first)
                    .map_or((definition.name.span, kind), |entry| {
                        (entry.span, entry.kind)
                    });
                let help = if first_kind == kind {
                    "rename one of them, or remove the second".to_owned()
                } else {
                    format!(
                        "every definition shares one namespace: `{name}` is already {}",
                        first_kind.described()
                    )
                };
                self.report(
                    Diagnostic::new(
                        Code::DuplicateDefinition,
                        definition.name.span,
                        format!("`{name}` is defined more than once"),
                    )
                    .with_help(help)
                    .with_note(first_span, "first defined here"),
                );
                continue;
            }
            self.names.by_name.insert(name, self.names.entries.len());
            self.names.entries.push(Entry {
                name,
                kind,
                slot,
                span: definition.name.span,
                used: false,
            });
        }
    }

    /// Second pass: lower every definition, duplicates included (so their
    /// own mistakes are reported too), pushing exactly one value per
    /// definition in slot order.
    pub(super) fn lower_definitions(&mut self, files: &[ast::File]) {
        for definition in definitions(files) {
            let name = &definition.name.node;
            match &definition.value {
                DefinitionValue::Number(value) => {
                    let alias = self.lower_number_alias(value);
                    self.numbers.push(alias);
                }
                DefinitionValue::Hours(spec) => {
                    let (hours, boundaries) = self.lower_hours_spec(spec, Some(name.clone()));
                    self.hours.push(hours);
                    self.boundaries.push(boundaries);
                }
                DefinitionValue::Holidays(spec) => {
                    let calendar = self.lower_holidays(spec, name.clone());
                    self.holidays.push(calendar);
                }
                DefinitionValue::Agent(value) => {
                    let user = self.lower_agent_alias(value);
                    self.agents.push(user);
                }
                DefinitionValue::Team(value) => {
                    self.teams.push(match value {
                        IdOrText::Id(id) => TeamRef::Id(id.node),
                        IdOrText::Text(name) => TeamRef::Name(name.node.clone()),
                    });
                }
            }
        }
    }

    fn lower_number_alias(&mut self, value: &IdOrText) -> NumberAlias {
        match value {
            IdOrText::Id(id) => NumberAlias::Id(id.node),
            IdOrText::Text(digits) => match self.normalize_phone(&digits.node) {
                Some(e164) => NumberAlias::E164(e164),
                None => {
                    let help = self.phone_help(&digits.node).unwrap_or_else(|| {
                        "give the digits with their country code (\"+33 1 76 36 06 95\"), \
                         or the Aircall number id without quotes (1234)"
                            .to_owned()
                    });
                    self.report(
                        Diagnostic::new(
                            Code::InvalidPhoneNumber,
                            digits.span,
                            format!("{} is not a phone number", self.text(digits.span)),
                        )
                        .with_help(help),
                    );
                    NumberAlias::Invalid
                }
            },
        }
    }

    fn lower_agent_alias(&mut self, value: &IdOrText) -> UserRef {
        match value {
            IdOrText::Id(id) => UserRef::Id(id.node),
            IdOrText::Text(email) => {
                self.check_email(email.span, &email.node);
                UserRef::Email(email.node.clone())
            }
        }
    }

    /// Reports an agent e-mail that does not look like one.
    pub(super) fn check_email(&mut self, span: Span, email: &str) {
        if !looks_like_email(email) {
            self.report(
                Diagnostic::new(
                    Code::InvalidEmail,
                    span,
                    format!("{} is not an e-mail address", self.text(span)),
                )
                .with_help(
                    "name an Aircall user by e-mail (\"alice@example.com\") or by id (`user 123`)",
                ),
            );
        }
    }

    /// Reports a name that no definition has: "unknown hours `ofice`", with
    /// the closest name among the kinds that would fit.
    pub(super) fn unknown_name(&mut self, ident: &ast::Ident, what: &str, kinds: &[Kind]) {
        let name = ident.node.as_str();
        let mut diagnostic = Diagnostic::new(
            Code::UnknownName,
            ident.span,
            format!("unknown {what} `{name}`"),
        );
        if let Some(found) = self.names.closest(name, kinds) {
            diagnostic = diagnostic.with_help(suggest::did_you_mean(found));
        } else if !self.names.has_kind(kinds) {
            if let Some(kind) = kinds.first() {
                diagnostic = diagnostic.with_help(format!(
                    "there is no {} definition; add one such as `{}`",
                    kind.keyword(),
                    example_definition(*kind, name)
                ));
            }
        }
        self.report(diagnostic);
    }

    /// Reports a name of the wrong kind: "`bank` is holidays, not hours".
    pub(super) fn wrong_kind(
        &mut self,
        ident: &ast::Ident,
        found: Resolved,
        wanted: &str,
        help: Option<String>,
    ) {
        let mut diagnostic = Diagnostic::new(
            Code::WrongKind,
            ident.span,
            format!(
                "`{}` is {}, not {wanted}",
                ident.node,
                found.kind.described()
            ),
        )
        .with_note(
            found.span,
            format!(
                "`{}` is defined here as {}",
                ident.node,
                found.kind.described()
            ),
        );
        if let Some(help) = help {
            diagnostic = diagnostic.with_help(help);
        }
        self.report(diagnostic);
    }

    /// The symbol table of a rule set without errors: each definition with
    /// the value lowered for it and the zone of its file.
    pub(super) fn symbols(&self, file_zones: &HashMap<FileId, Tz>) -> Symbols {
        let symbols = self
            .names
            .entries
            .iter()
            .filter_map(|entry| {
                let value = match entry.kind {
                    Kind::Number => SymbolValue::Number(match self.numbers.get(entry.slot)? {
                        NumberAlias::Id(id) => NumberValue::Id(*id),
                        NumberAlias::E164(e164) => NumberValue::E164(e164.clone()),
                        // Reported as an error, so no rule set is built.
                        NumberAlias::Invalid => return None,
                    }),
                    Kind::Hours => SymbolValue::Hours(entry.slot),
                    Kind::Holidays => SymbolValue::Holidays(entry.slot),
                    Kind::Agent => SymbolValue::Agent(self.agents.get(entry.slot)?.clone()),
                    Kind::Team => SymbolValue::Team(self.teams.get(entry.slot)?.clone()),
                };
                Some(Symbol {
                    name: entry.name.to_owned(),
                    value,
                    span: entry.span,
                    zone: file_zones.get(&entry.span.file).copied(),
                })
            })
            .collect();
        let mut zones = vec![None; self.sources.len()];
        for (file, zone) in file_zones {
            if let Some(slot) = zones.get_mut(file.0 as usize) {
                *slot = Some(*zone);
            }
        }
        Symbols::new(symbols, zones)
    }

    /// Warns about definitions that nothing refers to.
    pub(super) fn warn_unused(&mut self) {
        let unused: Vec<(Span, &str, Kind)> = self
            .names
            .entries
            .iter()
            .filter(|entry| !entry.used)
            .map(|entry| (entry.span, entry.name, entry.kind))
            .collect();
        for (span, name, kind) in unused {
            self.report(
                Diagnostic::new(
                    Code::UnusedDefinition,
                    span,
                    format!("{} `{name}` is never used", kind.keyword()),
                )
                .with_help("remove it, or refer to it in a rule"),
            );
        }
    }
}

/// A definition to suggest when there is none of a kind at all.
fn example_definition(kind: Kind, name: &str) -> String {
    match kind {
        Kind::Number => format!("number {name} = \"+33 1 76 36 06 95\""),
        Kind::Hours => format!("hours {name} = mon-fri 09:00-18:00"),
        Kind::Holidays => format!("holidays {name} = 2026-12-25, every 01-01"),
        Kind::Agent => format!("agent {name} = \"{name}@example.com\""),
        Kind::Team => format!("team {name} = \"Support\""),
    }
}
