//! The symbol table: every definition of a checked rule set as the checker
//! resolved it (name, kind, value, where it is written, and the zone of
//! its file), and the `timezone` of every file.
//!
//! The checker builds it once, from the namespace it resolved names in, so
//! whoever needs a definition after checking (`switchboard calendar`, the
//! rule test suites) asks here instead of parsing the sources again, and
//! everyone reads the same zone for it.

use std::collections::HashMap;

use chrono_tz::Tz;

use super::ast::DefinitionValue;
use super::call::{TeamRef, UserRef};
use super::span::{FileId, Span};

/// The kinds of definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Number,
    Hours,
    Holidays,
    Agent,
    Team,
}

impl Kind {
    pub(crate) fn of(value: &DefinitionValue) -> Kind {
        match value {
            DefinitionValue::Number(_) => Kind::Number,
            DefinitionValue::Hours(_) => Kind::Hours,
            DefinitionValue::Holidays(_) => Kind::Holidays,
            DefinitionValue::Agent(_) => Kind::Agent,
            DefinitionValue::Team(_) => Kind::Team,
        }
    }

    /// The keyword that defines this kind (`hours office = ...`).
    pub fn keyword(self) -> &'static str {
        match self {
            Kind::Number => "number",
            Kind::Hours => "hours",
            Kind::Holidays => "holidays",
            Kind::Agent => "agent",
            Kind::Team => "team",
        }
    }

    /// The kind in a sentence: "`x` is {described}".
    pub fn described(self) -> &'static str {
        match self {
            Kind::Number => "an Aircall number",
            Kind::Hours => "hours",
            Kind::Holidays => "holidays",
            Kind::Agent => "an agent",
            Kind::Team => "a team",
        }
    }
}

/// A `number` definition's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberValue {
    /// An Aircall number id (`number main = 1234`).
    Id(u64),
    /// Digits, in E.164 (`number paris = "+33 1 76 36 06 95"`).
    E164(String),
}

/// A definition's value as the rules use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SymbolValue {
    Number(NumberValue),
    /// An index into the rule set's hours ([`super::RuleSet::hours_named`]).
    Hours(usize),
    /// An index into the rule set's holiday calendars.
    Holidays(usize),
    Agent(UserRef),
    Team(TeamRef),
}

impl SymbolValue {
    pub fn kind(&self) -> Kind {
        match self {
            SymbolValue::Number(_) => Kind::Number,
            SymbolValue::Hours(_) => Kind::Hours,
            SymbolValue::Holidays(_) => Kind::Holidays,
            SymbolValue::Agent(_) => Kind::Agent,
            SymbolValue::Team(_) => Kind::Team,
        }
    }
}

/// One definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    pub name: String,
    pub value: SymbolValue,
    /// Where the definition's name is written.
    pub span: Span,
    /// The `timezone` of the file that defines it: the zone the checker
    /// gives that file's time tests.
    pub zone: Option<Tz>,
}

impl Symbol {
    pub fn kind(&self) -> Kind {
        self.value.kind()
    }
}

/// Every definition of a rule set (one namespace across its files), and
/// each file's `timezone`.
#[derive(Debug, Clone, Default)]
pub struct Symbols {
    /// In definition order.
    symbols: Vec<Symbol>,
    by_name: HashMap<String, usize>,
    /// Indexed by [`FileId`]; `None` for a file without a valid `timezone`.
    file_zones: Vec<Option<Tz>>,
}

impl Symbols {
    /// A table of `symbols` (names unique, as checking guarantees) and of
    /// the zones of the files, by file.
    pub(crate) fn new(symbols: Vec<Symbol>, file_zones: Vec<Option<Tz>>) -> Symbols {
        let by_name = symbols
            .iter()
            .enumerate()
            .map(|(index, symbol)| (symbol.name.clone(), index))
            .collect();
        Symbols {
            symbols,
            by_name,
            file_zones,
        }
    }

    /// The definition named `name`, of whatever kind.
    pub fn get(&self, name: &str) -> Option<&Symbol> {
        self.symbols.get(*self.by_name.get(name)?)
    }

    /// Every definition, in definition order.
    pub fn iter(&self) -> impl Iterator<Item = &Symbol> {
        self.symbols.iter()
    }

    /// The definitions of one kind, in definition order.
    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Symbol> {
        self.symbols
            .iter()
            .filter(move |symbol| symbol.kind() == kind)
    }

    /// The `timezone` of a file of the rule set.
    pub fn zone_of(&self, file: FileId) -> Option<Tz> {
        self.file_zones.get(file.0 as usize).copied().flatten()
    }
}
