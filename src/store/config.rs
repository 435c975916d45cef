//! Settings of the state store: where it lives (`state:`) and how it
//! behaves (`store:`).
//!
//! `state` is a path or URL: `data/switchboard.db` (the default, SQLite in
//! WAL mode, created on demand), `sqlite:///var/lib/switchboard/state.db`,
//! or `postgres://user@host/db` when several replicas share one store.
//! This module only reads settings; it opens nothing.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::config::values::{duration, positive_count, positive_duration, redact_url};

/// The default SQLite file, relative to the working directory.
pub const DEFAULT_STATE_PATH: &str = "data/switchboard.db";

/// Where the state lives.
#[derive(Clone, PartialEq, Eq)]
pub enum StateLocation {
    /// A SQLite file (created with its directory when missing).
    Sqlite(PathBuf),
    /// A PostgreSQL URL; may hold a password, so `Debug` hides it.
    Postgres(String),
}

impl fmt::Debug for StateLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateLocation::Sqlite(path) => write!(f, "Sqlite({})", path.display()),
            StateLocation::Postgres(url) => write!(f, "Postgres({})", redact_url(url)),
        }
    }
}

impl fmt::Display for StateLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateLocation::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            StateLocation::Postgres(url) => f.write_str(&redact_url(url)),
        }
    }
}

impl Default for StateLocation {
    fn default() -> Self {
        StateLocation::Sqlite(PathBuf::from(DEFAULT_STATE_PATH))
    }
}

impl StateLocation {
    /// Reads `state:`: a `postgres://` / `postgresql://` URL, a
    /// `sqlite:` URL, or a plain file path.
    pub fn parse(text: &str) -> Result<StateLocation, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("must not be empty".to_owned());
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(StateLocation::Postgres(text.to_owned()));
        }
        if let Some(rest) = text.strip_prefix("sqlite:") {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            let path = path.split('?').next().unwrap_or(path);
            if path.is_empty() || path == ":memory:" {
                return Err(
                    "the state must outlive the process: give a file, e.g. sqlite://data/switchboard.db"
                        .to_owned(),
                );
            }
            return Ok(StateLocation::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(format!(
                "`{scheme}://` is not a supported state store (use a SQLite file path or a postgres:// URL)"
            ));
        }
        Ok(StateLocation::Sqlite(PathBuf::from(text)))
    }

    /// A relative SQLite path is taken relative to `base` (the directory
    /// of the config file).
    pub fn resolve_against(self, base: &Path) -> StateLocation {
        match self {
            StateLocation::Sqlite(path) if path.is_relative() => {
                StateLocation::Sqlite(base.join(path))
            }
            other => other,
        }
    }
}

impl<'de> Deserialize<'de> for StateLocation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        StateLocation::parse(&text).map_err(de::Error::custom)
    }
}

/// How hard SQLite works to make a commit durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// WAL with `synchronous=NORMAL`: a commit survives the process being
    /// killed (kill -9, a crash); the last commits may be lost if the
    /// machine loses power.
    #[default]
    Normal,
    /// `synchronous=FULL`: every group commit is fsync'ed, so it also
    /// survives a power loss; costs one fsync per batch.
    Full,
}

/// The `store:` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Records older than this are pruned in the background.
    #[serde(deserialize_with = "positive_duration")]
    pub retention: Duration,
    /// How often pruning runs.
    #[serde(deserialize_with = "positive_duration")]
    pub prune_interval: Duration,
    /// `last_agent` only looks this far back.
    #[serde(deserialize_with = "positive_duration")]
    pub history_window: Duration,
    /// The most records one group commit takes.
    #[serde(deserialize_with = "positive_count")]
    pub commit_batch: usize,
    /// How long the writer waits for more records after the first one of
    /// a batch (0 commits whatever has arrived at once).
    #[serde(deserialize_with = "duration")]
    pub commit_wait: Duration,
    pub sync: SyncMode,
    /// SQLite: the WAL is started over once it holds more than this many
    /// MiB (see `spawn_checkpointer`); it is also truncated to this size.
    #[serde(deserialize_with = "positive_count")]
    pub wal_limit_mb: u64,
    /// Connections for reads (history, `GET /decisions`) and, on
    /// PostgreSQL, for the writer too.
    #[serde(deserialize_with = "positive_count")]
    pub pool_size: u32,
    /// This replica's name in the log, for people: claims belong to the
    /// process (a fresh instance id per start), so names may repeat.
    /// Default: the host name.
    pub replica: Option<String>,
    /// How many replicas share the company's Aircall budget: each uses
    /// `aircall.rate_limit_per_minute / replicas`.
    #[serde(deserialize_with = "positive_count")]
    pub replicas: u32,
    /// PostgreSQL: how long after an instance last renewed its lease
    /// (every fifth of this) the others take over its unfinished calls.
    #[serde(deserialize_with = "duration")]
    pub lease_expiry: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            retention: Duration::from_secs(30 * 86_400),
            prune_interval: Duration::from_secs(3600),
            history_window: Duration::from_secs(90 * 86_400),
            commit_batch: 512,
            // Measured: with 0 the commits group naturally (records pile
            // up while one commits) and p99 acknowledgement at 2,000/s is
            // lower than with a fixed 1 ms wait.
            commit_wait: Duration::ZERO,
            sync: SyncMode::default(),
            wal_limit_mb: 256,
            pool_size: 8,
            replica: None,
            replicas: 1,
            // Calls of a replica that died are carried out within about
            // this long (well inside the 30 s action deadline), and a live
            // one must miss four heartbeats in a row to be taken for dead.
            lease_expiry: Duration::from_secs(5),
        }
    }
}

impl StoreConfig {
    pub(crate) fn wal_limit_bytes(&self) -> u64 {
        self.wal_limit_mb.saturating_mul(1 << 20)
    }

    /// Checks what serde cannot; returns the key (under `store.`) and the problem.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.commit_wait > Duration::from_millis(100) {
            return Err((
                "store.commit_wait",
                "must be at most 100ms (every acknowledgement waits for it)".to_owned(),
            ));
        }
        if self.lease_expiry < Duration::from_secs(1) {
            return Err((
                "store.lease_expiry",
                "must be at least 1s (a live replica renews its lease every fifth of it)"
                    .to_owned(),
            ));
        }
        if self.replica.as_deref().is_some_and(|r| r.trim().is_empty()) {
            return Err(("store.replica", "must not be empty".to_owned()));
        }
        Ok(())
    }

    /// The replica name: the configured one, else `$HOSTNAME`, else the
    /// contents of `/etc/hostname`, else `local`.
    pub fn replica_name(&self) -> String {
        if let Some(name) = &self.replica {
            return name.trim().to_owned();
        }
        std::env::var("HOSTNAME")
            .ok()
            .filter(|name| !name.trim().is_empty())
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|name| name.trim().to_owned())
                    .filter(|name| !name.is_empty())
            })
            .unwrap_or_else(|| "local".to_owned())
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn state_locations() {
        assert_eq!(
            StateLocation::parse("data/x.db").unwrap(),
            StateLocation::Sqlite("data/x.db".into())
        );
        assert_eq!(
            StateLocation::parse("sqlite:///var/lib/s.db?mode=rwc").unwrap(),
            StateLocation::Sqlite("/var/lib/s.db".into())
        );
        assert_eq!(
            StateLocation::parse("sqlite:rel.db").unwrap(),
            StateLocation::Sqlite("rel.db".into())
        );
        assert!(matches!(
            StateLocation::parse("postgres://u:p@h/db").unwrap(),
            StateLocation::Postgres(_)
        ));
        assert!(StateLocation::parse("mysql://h/db")
            .unwrap_err()
            .contains("mysql://"));
        assert!(StateLocation::parse("sqlite::memory:").is_err());
        assert!(StateLocation::parse(" ").is_err());
        assert_eq!(
            StateLocation::parse("x.db")
                .unwrap()
                .resolve_against(Path::new("/etc/sb")),
            StateLocation::Sqlite("/etc/sb/x.db".into())
        );
    }

    #[test]
    fn passwords_never_show() {
        let location = StateLocation::parse("postgres://app:hunter2@db:5432/sb").unwrap();
        assert!(!format!("{location:?} {location}").contains("hunter2"));
    }

    #[test]
    fn store_table_defaults_and_checks() {
        let config: StoreConfig =
            serde_yaml::from_str("retention: 7d\ncommit_wait: 2ms\n").unwrap();
        assert_eq!(config.retention, Duration::from_secs(7 * 86_400));
        assert_eq!(config.history_window, Duration::from_secs(90 * 86_400));
        assert!(config.validate().is_ok());
        let bad = serde_yaml::from_str::<StoreConfig>("commit_batch: 0\n").unwrap_err();
        assert!(bad.to_string().contains("at least 1"), "{bad}");
        // Counts, like every number, may come from `${VAR}` (a string).
        let replicas: StoreConfig = serde_yaml::from_str("replicas: '3'\n").unwrap();
        assert_eq!(replicas.replicas, 3);
        assert!(serde_yaml::from_str::<StoreConfig>("retension: 1d\n").is_err());
        let zero = serde_yaml::from_str::<StoreConfig>("retention: 0d\n").unwrap_err();
        assert!(zero.to_string().contains("more than 0"), "{zero}");
        assert_eq!(config.lease_expiry, Duration::from_secs(5));
        let lease: StoreConfig = serde_yaml::from_str("lease_expiry: 2s\n").unwrap();
        assert_eq!(lease.lease_expiry, Duration::from_secs(2));
        let too_short: StoreConfig = serde_yaml::from_str("lease_expiry: 200ms\n").unwrap();
        assert_eq!(too_short.validate().unwrap_err().0, "store.lease_expiry");
    }
}
