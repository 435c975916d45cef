//! The `contacts:` table of the config: where callers' records come from.
//!
//! ```yaml
//! contacts:
//!   timeout: 300ms          # the whole lookup, all sources together
//!   cache_ttl: 5m
//!   cache_size: 10000
//!   default_region: FR      # for numbers written without a country code
//!   sources:                # tried in order; the first that knows the caller wins
//!     - sql:
//!         url: postgres://crm@db/crm
//!         query: SELECT name, account_manager AS agent, vip FROM customers WHERE phone = $1
//!     - csv:
//!         path: contacts.csv
//!         phone_column: phone
//!     - aircall
//! ```
//!
//! Only settings: nothing is opened here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::values::{duration, number_or_string, positive_duration};

/// The `contacts:` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContactsConfig {
    /// The most a lookup may add to a decision; then the contact is
    /// missing and the lookup is recorded as timed out.
    #[serde(deserialize_with = "positive_duration")]
    pub timeout: Duration,
    /// How long an answer (found or not) is reused.
    #[serde(deserialize_with = "duration")]
    pub cache_ttl: Duration,
    /// The most callers the cache remembers.
    #[serde(deserialize_with = "number_or_string")]
    pub cache_size: usize,
    /// ISO 3166 region for company numbers written nationally
    /// (`01 76 36 06 95` with `FR`); without it such numbers are skipped.
    pub default_region: Option<String>,
    pub sources: Vec<SourceConfig>,
}

impl Default for ContactsConfig {
    fn default() -> Self {
        ContactsConfig {
            timeout: Duration::from_millis(300),
            cache_ttl: Duration::from_secs(300),
            cache_size: 10_000,
            default_region: None,
            sources: Vec::new(),
        }
    }
}

/// One source of contacts: `{sql: {...}}`, `{csv: {...}}` or `aircall`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceConfig {
    Sql(SqlSourceConfig),
    Csv(CsvSourceConfig),
    /// Aircall's shared contacts (`GET /v1/contacts/search`), within the
    /// API budget; needs Aircall credentials.
    Aircall,
}

impl SourceConfig {
    /// `sql #1`, `csv contacts.csv`, `aircall`: how logs and records name it.
    pub fn label(&self, index: usize) -> String {
        match self {
            SourceConfig::Sql(sql) => match &sql.name {
                Some(name) => format!("sql {name}"),
                None => format!("sql #{}", index + 1),
            },
            SourceConfig::Csv(csv) => format!("csv {}", csv.path.display()),
            SourceConfig::Aircall => "aircall".to_owned(),
        }
    }
}

impl<'de> Deserialize<'de> for SourceConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        use serde_yaml::Value;
        let (kind, body) = match Value::deserialize(deserializer)? {
            Value::String(kind) => (kind, Value::Null),
            Value::Mapping(map) if map.len() == 1 => match map.into_iter().next() {
                Some((Value::String(kind), body)) => (kind, body),
                _ => return Err(D::Error::custom("a source is `sql:`, `csv:` or `aircall`")),
            },
            Value::Tagged(tagged) => (
                tagged.tag.to_string().trim_start_matches('!').to_owned(),
                tagged.value,
            ),
            _ => {
                return Err(D::Error::custom(
                    "a source is one of `sql: {url, query}`, `csv: {path}` or `aircall`",
                ))
            }
        };
        let inner = |error: serde_yaml::Error| D::Error::custom(format!("{kind}: {error}"));
        match kind.as_str() {
            "sql" => serde_yaml::from_value(body)
                .map(SourceConfig::Sql)
                .map_err(inner),
            "csv" => serde_yaml::from_value(body)
                .map(SourceConfig::Csv)
                .map_err(inner),
            "aircall" => match body {
                Value::Null => Ok(SourceConfig::Aircall),
                Value::Mapping(map) if map.is_empty() => Ok(SourceConfig::Aircall),
                _ => Err(D::Error::custom("aircall: takes no settings")),
            },
            other => Err(D::Error::custom(format!(
                "unknown contact source `{other}` (expected sql, csv or aircall)"
            ))),
        }
    }
}

/// `sql:`: a database and a query with one parameter, the caller's E.164.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlSourceConfig {
    /// `sqlite://file.db`, `postgres://...`, `mysql://...`.
    pub url: String,
    /// Written in the database's own dialect: `$1` (PostgreSQL, SQLite)
    /// or `?` (MySQL/MariaDB, SQLite) for the caller's E.164 number.
    pub query: String,
    /// A name for logs and records (default `#N`, its position).
    #[serde(default)]
    pub name: Option<String>,
    /// Connections at most.
    #[serde(default = "default_pool_size", deserialize_with = "number_or_string")]
    pub pool_size: u32,
}

fn default_pool_size() -> u32 {
    4
}

/// `csv:`: a file with a header row; reloaded when it changes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvSourceConfig {
    pub path: PathBuf,
    /// The header of the column holding phone numbers (any format).
    #[serde(default = "default_phone_column")]
    pub phone_column: String,
    /// One ASCII character (default `,`).
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
}

fn default_phone_column() -> String {
    "phone".to_owned()
}

fn default_delimiter() -> char {
    ','
}

impl ContactsConfig {
    /// Checks what serde cannot; returns the key and the problem.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.cache_size == 0 && !self.cache_ttl.is_zero() {
            return Err((
                "contacts.cache_size".into(),
                "must be at least 1 (or set cache_ttl: 0 to turn the cache off)".into(),
            ));
        }
        if let Some(region) = &self.default_region {
            let known = region.len() == 2
                && region
                    .to_ascii_uppercase()
                    .parse::<phonenumber::country::Id>()
                    .is_ok();
            if !known {
                return Err((
                    "contacts.default_region".into(),
                    format!("`{region}` is not an ISO 3166 region such as `FR` or `US`"),
                ));
            }
        }
        for (index, source) in self.sources.iter().enumerate() {
            let key = format!("contacts.sources[{index}]");
            match source {
                SourceConfig::Sql(sql) => {
                    let scheme = sql.url.split("://").next().unwrap_or("");
                    if !matches!(
                        scheme,
                        "sqlite" | "postgres" | "postgresql" | "mysql" | "mariadb"
                    ) && !sql.url.starts_with("sqlite:")
                    {
                        return Err((
                            format!("{key}.sql.url"),
                            "must be a sqlite://, postgres:// or mysql:// URL".into(),
                        ));
                    }
                    if sql.query.trim().is_empty() {
                        return Err((format!("{key}.sql.query"), "must not be empty".into()));
                    }
                    if sql.pool_size == 0 {
                        return Err((format!("{key}.sql.pool_size"), "must be at least 1".into()));
                    }
                }
                SourceConfig::Csv(csv) => {
                    if !csv.delimiter.is_ascii() {
                        return Err((
                            format!("{key}.csv.delimiter"),
                            "must be one ASCII character".into(),
                        ));
                    }
                    if csv.phone_column.trim().is_empty() {
                        return Err((
                            format!("{key}.csv.phone_column"),
                            "must not be empty".into(),
                        ));
                    }
                }
                SourceConfig::Aircall => {}
            }
        }
        Ok(())
    }

    /// Relative CSV paths and SQLite files are taken relative to `base`
    /// (the directory of the config file).
    pub fn resolve_against(mut self, base: &Path) -> ContactsConfig {
        for source in &mut self.sources {
            match source {
                SourceConfig::Csv(csv) if csv.path.is_relative() => csv.path = base.join(&csv.path),
                SourceConfig::Sql(sql) => {
                    if let Some(rest) = sql.url.strip_prefix("sqlite:") {
                        let path = rest.strip_prefix("//").unwrap_or(rest);
                        let (file, query) = match path.split_once('?') {
                            Some((file, query)) => (file, Some(query)),
                            None => (path, None),
                        };
                        if !file.is_empty()
                            && !file.starts_with(':')
                            && Path::new(file).is_relative()
                        {
                            let joined = base.join(file);
                            sql.url = match query {
                                Some(query) => format!("sqlite://{}?{query}", joined.display()),
                                None => format!("sqlite://{}", joined.display()),
                            };
                        }
                    }
                }
                _ => {}
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn sources_in_yaml() {
        let config: ContactsConfig = serde_yaml::from_str(
            "timeout: 150ms\ndefault_region: FR\nsources:\n  - sql:\n      url: postgres://db/crm\n      \
             query: SELECT name FROM c WHERE phone = $1\n  - csv:\n      path: c.csv\n  - aircall\n",
        )
        .unwrap();
        assert_eq!(config.timeout, Duration::from_millis(150));
        assert_eq!(config.sources.len(), 3);
        assert!(matches!(&config.sources[0], SourceConfig::Sql(s) if s.pool_size == 4));
        assert!(matches!(&config.sources[1], SourceConfig::Csv(c) if c.phone_column == "phone"));
        assert_eq!(config.sources[2], SourceConfig::Aircall);
        assert!(config.validate().is_ok());
        assert_eq!(config.sources[0].label(0), "sql #1");
    }

    #[test]
    fn mistakes_are_named() {
        assert!(serde_yaml::from_str::<ContactsConfig>("sources:\n  - ldap: {}\n").is_err());
        assert!(serde_yaml::from_str::<ContactsConfig>(
            "sources:\n  - csv:\n      path: x\n      colum: y\n"
        )
        .is_err());
        let config: ContactsConfig = serde_yaml::from_str(
            "sources:\n  - sql:\n      url: oracle://x\n      query: SELECT 1\n",
        )
        .unwrap();
        assert_eq!(
            config.validate().unwrap_err().0,
            "contacts.sources[0].sql.url"
        );
        let config: ContactsConfig = serde_yaml::from_str("default_region: XX\n").unwrap();
        assert_eq!(config.validate().unwrap_err().0, "contacts.default_region");
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        let config: ContactsConfig = serde_yaml::from_str(
            "sources:\n  - sql:\n      url: sqlite://crm.db?mode=ro\n      query: q\n  - csv:\n      path: c.csv\n",
        )
        .unwrap();
        let config = config.resolve_against(Path::new("/etc/sb"));
        assert!(
            matches!(&config.sources[0], SourceConfig::Sql(s) if s.url == "sqlite:///etc/sb/crm.db?mode=ro")
        );
        assert!(
            matches!(&config.sources[1], SourceConfig::Csv(c) if c.path == Path::new("/etc/sb/c.csv"))
        );
    }
}
