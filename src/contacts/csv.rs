//! The `csv` contact source: a file with a header row and a phone column.
//!
//! The whole file is read into memory, keyed by the phone column
//! normalised to E.164 (rows whose number cannot be read are skipped and
//! counted; the first row of a number wins). Values are typed the way an
//! operator would expect from a spreadsheet: `true`/`false` are booleans,
//! integers written plainly (no leading zero, no `+`) are integers, an
//! empty cell is missing, anything else is text. [`CsvSource::reload_if_changed`]
//! reads the file again when its modification time or size changed; a
//! file that cannot be read keeps the previous contents in service.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::SystemTime;

use super::config::CsvSourceConfig;
use super::SourceError;
use crate::lang::{phone, Contact, Value};

/// What one read of the file produced.
#[derive(Debug, Default)]
struct Loaded {
    contacts: HashMap<String, Arc<Contact>>,
    skipped: usize,
    columns: Vec<String>,
}

/// The file's identity at the last read.
type Stamp = Option<(SystemTime, u64)>;

/// A CSV file of contacts, kept in memory.
#[derive(Debug)]
pub struct CsvSource {
    path: PathBuf,
    phone_column: String,
    delimiter: u8,
    default_region: Option<String>,
    loaded: RwLock<Arc<Loaded>>,
    stamp: Mutex<Stamp>,
}

/// The result of a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reloaded {
    /// The file did not change.
    Unchanged,
    /// Read again: this many contacts, this many rows skipped.
    Loaded { contacts: usize, skipped: usize },
}

impl CsvSource {
    /// Reads the file once; an unreadable file at start is an error.
    pub fn open(
        config: &CsvSourceConfig,
        default_region: Option<&str>,
    ) -> Result<CsvSource, SourceError> {
        let source = CsvSource {
            path: config.path.clone(),
            phone_column: config.phone_column.clone(),
            delimiter: u8::try_from(config.delimiter).unwrap_or(b','),
            default_region: default_region.map(str::to_owned),
            loaded: RwLock::new(Arc::new(Loaded::default())),
            stamp: Mutex::new(None),
        };
        source.reload_if_changed()?;
        Ok(source)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The contact of `e164`, if the file has one.
    pub fn find(&self, e164: &str) -> Option<Contact> {
        let loaded = Arc::clone(&self.loaded.read().unwrap_or_else(PoisonError::into_inner));
        loaded.contacts.get(e164).map(|contact| (**contact).clone())
    }

    /// The columns of the file (the contact's fields, the phone column included).
    pub fn columns(&self) -> Vec<String> {
        self.loaded
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .columns
            .clone()
    }

    /// How many contacts are in service.
    pub fn len(&self) -> usize {
        self.loaded
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contacts
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads the file again if it changed since the last read. On error
    /// the previous contents stay in service.
    pub fn reload_if_changed(&self) -> Result<Reloaded, SourceError> {
        let unreadable = |error: std::io::Error| {
            SourceError::Config(format!("cannot read {}: {error}", self.path.display()))
        };
        let metadata = std::fs::metadata(&self.path).map_err(unreadable)?;
        let stamp = Some((
            metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            metadata.len(),
        ));
        if *self.stamp.lock().unwrap_or_else(PoisonError::into_inner) == stamp {
            return Ok(Reloaded::Unchanged);
        }
        let text = std::fs::read(&self.path).map_err(unreadable)?;
        let loaded = self.parse(&text)?;
        let outcome = Reloaded::Loaded {
            contacts: loaded.contacts.len(),
            skipped: loaded.skipped,
        };
        *self.loaded.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(loaded);
        *self.stamp.lock().unwrap_or_else(PoisonError::into_inner) = stamp;
        Ok(outcome)
    }

    fn parse(&self, text: &[u8]) -> Result<Loaded, SourceError> {
        let shown = self.path.display();
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(self.delimiter)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text);
        let headers: Vec<String> = reader
            .headers()
            .map_err(|error| SourceError::Config(format!("{shown}: {error}")))?
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').to_owned())
            .collect();
        let phone_index = headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case(&self.phone_column))
            .ok_or_else(|| {
                SourceError::Config(format!(
                    "{shown}: no column `{}` in the header row (columns: {})",
                    self.phone_column,
                    headers.join(", ")
                ))
            })?;
        let mut loaded = Loaded {
            columns: headers.clone(),
            ..Loaded::default()
        };
        for row in reader.records() {
            let row = row.map_err(|error| SourceError::Config(format!("{shown}: {error}")))?;
            let Some(e164) = row
                .get(phone_index)
                .and_then(|raw| phone::normalize(raw, self.default_region.as_deref()))
                .map(|n| n.e164)
            else {
                loaded.skipped += 1;
                continue;
            };
            let mut contact = Contact::default();
            for (header, cell) in headers.iter().zip(row.iter()) {
                contact.insert(header.clone(), cell_value(cell));
            }
            loaded
                .contacts
                .entry(e164)
                .or_insert_with(|| Arc::new(contact));
        }
        Ok(loaded)
    }
}

/// A cell as a typed value (see the module docs).
pub fn cell_value(cell: &str) -> Value {
    let cell = cell.trim();
    if cell.is_empty() {
        return Value::Null;
    }
    if cell.eq_ignore_ascii_case("true") {
        return Value::Bool(true);
    }
    if cell.eq_ignore_ascii_case("false") {
        return Value::Bool(false);
    }
    match cell.parse::<i64>() {
        // Only plainly written integers: `007` or `+33` stay text.
        Ok(int) if int.to_string() == cell => Value::Int(int),
        _ => Value::Text(cell.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_typed() {
        assert_eq!(cell_value("true"), Value::Bool(true));
        assert_eq!(cell_value("FALSE"), Value::Bool(false));
        assert_eq!(cell_value("42"), Value::Int(42));
        assert_eq!(cell_value("-3"), Value::Int(-3));
        assert_eq!(cell_value("007"), Value::Text("007".into()));
        assert_eq!(cell_value("+33"), Value::Text("+33".into()));
        assert_eq!(cell_value(" "), Value::Null);
        assert_eq!(cell_value("es"), Value::Text("es".into()));
    }
}
