//! Contacts: the caller's record from the company's own data, for
//! `contact.FIELD` in rules.
//!
//! [`Contacts`] holds the configured sources in order (`sql`, `csv`,
//! `aircall`); the first that knows the caller wins. Both sides are
//! compared in E.164: the caller's number arrives normalised, CSV and
//! Aircall numbers are normalised with [`crate::lang::phone::normalize`]
//! (national numbers read in `default_region`), and an `sql` query is
//! given the E.164 form as its one parameter.
//!
//! A lookup never fails a webhook: it has one deadline for all sources
//! together (default 300 ms); a source that errs is skipped (the next one
//! is asked) and the error is reported with the [`Lookup`]; running out of
//! time leaves the contact missing. Answers, including "nobody knows this
//! caller", are cached with a TTL and a size bound; failures are not.
//! The server only looks up contacts when the rules read `contact.*`.

pub mod aircall;
pub mod cache;
pub mod config;
pub mod csv;
pub mod sql;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use config::{ContactsConfig, SourceConfig};

use self::aircall::ContactSearch;
use self::cache::ContactCache;
use self::csv::{CsvSource, Reloaded};
use self::sql::SqlSource;
use crate::lang::Contact;
use crate::store::ContactLookupRecord;

/// Why a source could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The source is set up wrongly (bad URL, missing file or column).
    #[error("{0}")]
    Config(String),
    /// The database refused or failed the query.
    #[error("{0}")]
    Query(String),
    /// The Aircall API did not answer usefully.
    #[error("{0}")]
    Api(String),
}

/// A source that cannot be set up at start.
#[derive(Debug, Clone, thiserror::Error)]
#[error("contact source {label}: {error}")]
pub struct ContactsError {
    pub label: String,
    pub error: SourceError,
}

enum Source {
    Sql(SqlSource),
    Csv(Arc<CsvSource>),
    Aircall(Arc<dyn ContactSearch>),
}

struct Named {
    label: Arc<str>,
    source: Source,
}

/// How a lookup ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LookupStatus {
    /// Not looked up: the rules do not read `contact.*`, the caller is
    /// anonymous, or no source is configured.
    Skipped,
    Found {
        source: String,
    },
    /// Every source answered; none knows the caller.
    NotFound,
    /// No source knew the caller and at least one failed.
    Failed,
    /// The deadline passed first.
    Timeout,
}

impl LookupStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            LookupStatus::Skipped => "skipped",
            LookupStatus::Found { .. } => "found",
            LookupStatus::NotFound => "not_found",
            LookupStatus::Failed => "failed",
            LookupStatus::Timeout => "timeout",
        }
    }
}

/// The answer to one lookup.
#[derive(Debug, Clone, PartialEq)]
pub struct Lookup {
    pub contact: Option<Arc<Contact>>,
    pub status: LookupStatus,
    /// Answered from the cache.
    pub cached: bool,
    /// Sources that failed on the way (`label: error`).
    pub errors: Vec<String>,
    pub elapsed: Duration,
}

impl Lookup {
    /// A lookup that was not made.
    pub fn skipped() -> Lookup {
        Lookup {
            contact: None,
            status: LookupStatus::Skipped,
            cached: false,
            errors: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }

    /// What the decision log keeps of it.
    pub fn to_record(&self) -> ContactLookupRecord {
        let mut detail = Vec::new();
        if let LookupStatus::Found { source } = &self.status {
            detail.push(source.clone());
        }
        if self.cached {
            detail.push("cached".to_owned());
        }
        if self.status == LookupStatus::Timeout {
            detail.push(format!("gave up after {} ms", self.elapsed.as_millis()));
        }
        detail.extend(self.errors.iter().cloned());
        ContactLookupRecord {
            status: self.status.as_str().to_owned(),
            detail: (!detail.is_empty()).then(|| detail.join("; ")),
        }
    }
}

/// Lookup counters, for metrics and `/status`.
#[derive(Debug, Default)]
struct Counters {
    found: AtomicU64,
    not_found: AtomicU64,
    failed: AtomicU64,
    timeout: AtomicU64,
    cache_hits: AtomicU64,
    source_errors: AtomicU64,
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LookupStats {
    pub found: u64,
    pub not_found: u64,
    pub failed: u64,
    pub timeout: u64,
    pub cache_hits: u64,
    /// Individual source failures (a lookup may still find the contact
    /// in a later source).
    pub source_errors: u64,
}

/// What `check --config` reports about one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceReport {
    pub source: String,
    /// `None` when the source works.
    pub error: Option<String>,
    /// The fields it returns, when known.
    pub fields: Option<Vec<String>>,
}

/// The configured contact sources, with their cache.
pub struct Contacts {
    sources: Vec<Named>,
    cache: ContactCache,
    timeout: Duration,
    default_region: Option<String>,
    counters: Counters,
}

impl std::fmt::Debug for Contacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let labels: Vec<&str> = self.sources.iter().map(|s| &*s.label).collect();
        f.debug_struct("Contacts")
            .field("sources", &labels)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Contacts {
    /// Sets up the sources: SQL pools (lazily: a database that is down
    /// fails lookups, not the start), CSV files (read now: a missing file
    /// is an error), the Aircall search (`None` without credentials: an
    /// `aircall` source is then left out with a warning).
    pub fn open(
        config: &ContactsConfig,
        aircall: Option<Arc<dyn ContactSearch>>,
    ) -> Result<Contacts, ContactsError> {
        let mut sources = Vec::with_capacity(config.sources.len());
        for (index, source) in config.sources.iter().enumerate() {
            let label = source.label(index);
            let error = |error| ContactsError {
                label: label.clone(),
                error,
            };
            let source = match source {
                SourceConfig::Sql(sql) => {
                    Source::Sql(SqlSource::new(sql, config.timeout).map_err(error)?)
                }
                SourceConfig::Csv(csv) => Source::Csv(Arc::new(
                    CsvSource::open(csv, config.default_region.as_deref()).map_err(error)?,
                )),
                SourceConfig::Aircall => match &aircall {
                    Some(search) => Source::Aircall(Arc::clone(search)),
                    None => {
                        tracing::warn!(
                            "contact source `aircall` needs Aircall credentials; it is left out in dry-run"
                        );
                        continue;
                    }
                },
            };
            sources.push(Named {
                label: Arc::from(label.as_str()),
                source,
            });
        }
        Ok(Contacts {
            sources,
            cache: ContactCache::new(config.cache_ttl, config.cache_size),
            timeout: config.timeout,
            default_region: config.default_region.clone(),
            counters: Counters::default(),
        })
    }

    /// Whether any source is configured.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Looks `e164` up: the cache, then each source in order, all within
    /// the timeout. Never fails: problems are in the answer.
    pub async fn lookup(&self, e164: &str) -> Lookup {
        if self.sources.is_empty() {
            return Lookup::skipped();
        }
        let started = Instant::now();
        if let Some(answer) = self.cache.get(e164) {
            self.counters.cache_hits.fetch_add(1, Ordering::Relaxed);
            let (contact, status) = match answer {
                Some((contact, source)) => (
                    Some(contact),
                    LookupStatus::Found {
                        source: source.to_string(),
                    },
                ),
                None => (None, LookupStatus::NotFound),
            };
            self.count(&status);
            return Lookup {
                contact,
                status,
                cached: true,
                errors: Vec::new(),
                elapsed: started.elapsed(),
            };
        }
        let deadline = started + self.timeout;
        let mut errors = Vec::new();
        let found =
            tokio::time::timeout_at(deadline, self.ask_sources(e164, deadline, &mut errors)).await;
        let lookup = match found {
            Ok(Some((contact, source))) => {
                let contact = Arc::new(contact);
                self.cache
                    .insert(e164, Some((Arc::clone(&contact), Arc::clone(&source))));
                Lookup {
                    contact: Some(contact),
                    status: LookupStatus::Found {
                        source: source.to_string(),
                    },
                    cached: false,
                    errors,
                    elapsed: started.elapsed(),
                }
            }
            Ok(None) => {
                let status = if errors.is_empty() {
                    // Only a complete "no" is worth remembering.
                    self.cache.insert(e164, None);
                    LookupStatus::NotFound
                } else {
                    LookupStatus::Failed
                };
                Lookup {
                    contact: None,
                    status,
                    cached: false,
                    errors,
                    elapsed: started.elapsed(),
                }
            }
            Err(_) => Lookup {
                contact: None,
                status: LookupStatus::Timeout,
                cached: false,
                errors,
                elapsed: started.elapsed(),
            },
        };
        self.count(&lookup.status);
        if !lookup.errors.is_empty() || lookup.status == LookupStatus::Timeout {
            tracing::warn!(
                status = lookup.status.as_str(),
                errors = lookup.errors.join("; ").as_str(),
                elapsed_ms = lookup.elapsed.as_millis() as u64,
                "contact lookup had problems"
            );
        }
        lookup
    }

    async fn ask_sources(
        &self,
        e164: &str,
        deadline: Instant,
        errors: &mut Vec<String>,
    ) -> Option<(Contact, Arc<str>)> {
        for named in &self.sources {
            let answer = match &named.source {
                Source::Sql(sql) => sql.find(e164).await,
                Source::Csv(csv) => Ok(csv.find(e164)),
                Source::Aircall(search) => search
                    .search_by_phone(e164, deadline)
                    .await
                    .map(|contacts| aircall::pick(&contacts, e164, self.default_region.as_deref()))
                    .map_err(SourceError::Api),
            };
            match answer {
                Ok(Some(contact)) => return Some((contact, Arc::clone(&named.label))),
                Ok(None) => {}
                Err(error) => {
                    self.counters.source_errors.fetch_add(1, Ordering::Relaxed);
                    errors.push(format!("{}: {error}", named.label));
                }
            }
        }
        None
    }

    fn count(&self, status: &LookupStatus) {
        let counter = match status {
            LookupStatus::Found { .. } => &self.counters.found,
            LookupStatus::NotFound => &self.counters.not_found,
            LookupStatus::Failed => &self.counters.failed,
            LookupStatus::Timeout => &self.counters.timeout,
            LookupStatus::Skipped => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The lookup counters.
    pub fn stats(&self) -> LookupStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        LookupStats {
            found: get(&c.found),
            not_found: get(&c.not_found),
            failed: get(&c.failed),
            timeout: get(&c.timeout),
            cache_hits: get(&c.cache_hits),
            source_errors: get(&c.source_errors),
        }
    }

    /// Reads changed CSV files again (keeping the old contents when a
    /// file cannot be read), and empties the cache when one changed.
    /// Returns how many sources were reloaded.
    pub fn reload_changed(&self) -> usize {
        let mut reloaded = 0;
        for named in &self.sources {
            let Source::Csv(csv) = &named.source else {
                continue;
            };
            match csv.reload_if_changed() {
                Ok(Reloaded::Unchanged) => {}
                Ok(Reloaded::Loaded { contacts, skipped }) => {
                    reloaded += 1;
                    tracing::info!(
                        source = &*named.label,
                        contacts,
                        skipped,
                        "contacts reloaded"
                    );
                }
                Err(error) => tracing::warn!(
                    source = &*named.label,
                    %error,
                    "contacts not reloaded; the previous contents stay in service"
                ),
            }
        }
        if reloaded > 0 {
            self.cache.clear();
        }
        reloaded
    }

    /// Checks for changed CSV files every `interval` until aborted.
    pub fn spawn_reloader(self: &Arc<Self>, interval: Duration) -> Option<JoinHandle<()>> {
        if !self
            .sources
            .iter()
            .any(|named| matches!(named.source, Source::Csv(_)))
        {
            return None;
        }
        let contacts = Arc::clone(self);
        Some(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let contacts = Arc::clone(&contacts);
                // File reading is blocking work.
                let _ = tokio::task::spawn_blocking(move || contacts.reload_changed()).await;
            }
        }))
    }

    /// Checks each source for `check --config`: SQL sources connect and
    /// prepare their query; CSV files were read at [`Contacts::open`].
    pub async fn check(&self) -> Vec<SourceReport> {
        let mut reports = Vec::with_capacity(self.sources.len());
        for named in &self.sources {
            let report = match &named.source {
                Source::Sql(sql) => {
                    match tokio::time::timeout(Duration::from_secs(10), sql.prepare()).await {
                        Ok(Ok(prepared)) => SourceReport {
                            source: named.label.to_string(),
                            error: None,
                            fields: Some(prepared.columns),
                        },
                        Ok(Err(error)) => SourceReport {
                            source: named.label.to_string(),
                            error: Some(format!("{}: {error}", sql.shown())),
                            fields: None,
                        },
                        Err(_) => SourceReport {
                            source: named.label.to_string(),
                            error: Some(format!("{}: no answer within 10 s", sql.shown())),
                            fields: None,
                        },
                    }
                }
                Source::Csv(csv) => SourceReport {
                    source: named.label.to_string(),
                    error: None,
                    fields: Some(csv.columns()),
                },
                Source::Aircall(_) => SourceReport {
                    source: named.label.to_string(),
                    error: None,
                    fields: Some(aircall::FIELDS.map(str::to_owned).to_vec()),
                },
            };
            reports.push(report);
        }
        reports
    }

    /// Closes database pools.
    pub async fn close(&self) {
        for named in &self.sources {
            if let Source::Sql(sql) = &named.source {
                sql.close().await;
            }
        }
    }
}

/// Fields the rules read that no working source returns (for a warning).
pub fn missing_fields<'a>(
    wanted: impl IntoIterator<Item = &'a str>,
    reports: &[SourceReport],
) -> Vec<String> {
    let known: Vec<&str> = reports
        .iter()
        .filter_map(|r| r.fields.as_ref())
        .flatten()
        .map(String::as_str)
        .collect();
    wanted
        .into_iter()
        .filter(|field| !known.contains(field))
        .map(str::to_owned)
        .collect()
}

/// What `switchboard check --config` says about the contact sources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourcesCheck {
    /// Sources that cannot work (cannot connect, query does not prepare,
    /// file unreadable).
    pub errors: Vec<String>,
    /// Rules read a field no working source returns.
    pub warnings: Vec<String>,
}

/// Opens every configured source, connects SQL sources and prepares their
/// queries, and compares the fields they return with `wanted` (the
/// `contact.*` fields the rules read). Blocking: runs its own small
/// runtime, for the command line.
pub fn check_sources(config: &ContactsConfig, wanted: &[String]) -> SourcesCheck {
    let mut check = SourcesCheck::default();
    if config.sources.is_empty() {
        if !wanted.is_empty() {
            check.warnings.push(format!(
                "the rules read contact fields ({}) but no contact source is configured: \
                 those conditions will always be false",
                wanted.join(", ")
            ));
        }
        return check;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            check
                .errors
                .push(format!("cannot start the async runtime: {error}"));
            return check;
        }
    };
    runtime.block_on(async {
        // Aircall's search needs the service's credentials and budget: it
        // is not called here, but its fields are known.
        let contacts = match Contacts::open(config, None) {
            Ok(contacts) => contacts,
            Err(error) => {
                check.errors.push(error.to_string());
                return;
            }
        };
        let mut reports = contacts.check().await;
        contacts.close().await;
        if config.sources.contains(&SourceConfig::Aircall) {
            reports.push(SourceReport {
                source: "aircall".to_owned(),
                error: None,
                fields: Some(aircall::FIELDS.map(str::to_owned).to_vec()),
            });
        }
        for report in &reports {
            if let Some(error) = &report.error {
                check
                    .errors
                    .push(format!("contact source {}: {error}", report.source));
            }
        }
        for field in missing_fields(wanted.iter().map(String::as_str), &reports) {
            check.warnings.push(format!(
                "the rules read `contact.{field}`, which no contact source returns \
                 (add it to a query, e.g. `... AS {field}`, or a CSV column)"
            ));
        }
    });
    check
}
