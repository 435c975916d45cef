//! The running rule set and how it is replaced: all or nothing.
//!
//! [`RulesHandle`] holds the active rules behind an `ArcSwap`: a request
//! loads one snapshot and decides with it even if a reload lands meanwhile.
//! [`RulesHandle::reload`] reads the rules path again (through
//! [`crate::loader::load_sources`], like `check`), compiles it, and swaps it
//! in only when it has no error. A rejected set never replaces the running
//! one; the failure is logged with the same rendered diagnostics as
//! `switchboard check`, counted in metrics, and kept for `/status` until a
//! later reload succeeds.
//!
//! A set with no rule at all is refused too (at start-up and on reload)
//! unless [`RulesPolicy::allow_empty`] says otherwise: it is valid
//! language, but in service it keeps every call, which is what a
//! truncated file or a half-finished deploy looks like.
//!
//! Reloads are triggered by the file watcher ([`watch`]), SIGHUP
//! ([`reload_on_sighup`]) and `POST /admin/reload`; they are serialised, so
//! two triggers at once cannot interleave. This module never decides calls
//! and never talks to Aircall.

pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::{ArcSwap, Guard};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::lang::render::{self, JsonFile};
use crate::lang::{self, CheckOptions, Diagnostic, RuleSet, Sources};
use crate::loader;
use crate::metrics::Metrics;

pub use watch::{spawn_watcher, RulesWatcher, WatchConfig};

/// A rule set in service, with what `/status` shows about it.
#[derive(Debug)]
pub struct ActiveRules {
    pub rule_set: RuleSet,
    pub loaded_at: DateTime<Utc>,
    /// The files it was compiled from, in order.
    pub files: Vec<String>,
    /// Warnings it was accepted with, if any.
    pub warnings: Option<Report>,
    /// Hash of the files' names and texts, to tell an unchanged reload
    /// without compiling.
    fingerprint: [u8; 32],
}

impl ActiveRules {
    pub fn revision(&self) -> &str {
        self.rule_set.revision()
    }
}

/// Diagnostics ready to show: a one-line summary, the rendered text (the
/// same as `switchboard check` prints) and the JSON form per file.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub summary: String,
    pub rendered: String,
    pub files: Vec<JsonFile>,
}

impl Report {
    fn new(diagnostics: &[Diagnostic], sources: &Sources) -> Report {
        Report {
            summary: render::summary(diagnostics),
            rendered: render::render(diagnostics, sources, false),
            files: render::to_json(diagnostics, sources),
        }
    }
}

/// Why a rule set was not put in service.
#[derive(Debug, Clone, Serialize)]
pub struct Rejection {
    /// One line: the load error, or the error and warning counts.
    pub reason: String,
    /// The diagnostics, when the files could be read and compiled.
    #[serde(skip)]
    pub diagnostics: Vec<Diagnostic>,
    pub report: Option<Report>,
}

impl Rejection {
    /// The text to show a person: rendered diagnostics, or the reason.
    pub fn rendered(&self) -> &str {
        match &self.report {
            Some(report) if !report.rendered.is_empty() => &report.rendered,
            _ => &self.reason,
        }
    }
}

/// What a reload did.
#[derive(Debug, Clone)]
pub enum ReloadOutcome {
    /// A new rule set is in service.
    Applied {
        revision: String,
        previous: String,
        warnings: Option<Report>,
    },
    /// The files are the ones in service: nothing to do.
    Unchanged { revision: String },
    /// The new files have errors (or cannot be read); the previous rule
    /// set stays in service.
    Rejected(Rejection),
}

impl ReloadOutcome {
    /// `applied`, `unchanged` or `rejected` (metrics labels, JSON).
    pub fn as_str(&self) -> &'static str {
        match self {
            ReloadOutcome::Applied { .. } => "applied",
            ReloadOutcome::Unchanged { .. } => "unchanged",
            ReloadOutcome::Rejected(_) => "rejected",
        }
    }
}

/// What asked for a reload (shown in logs and on `/status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Watch,
    Signal,
    Admin,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Watch => "watch",
            Trigger::Signal => "signal",
            Trigger::Admin => "admin",
        }
    }
}

/// The last reload, as `/status` shows it. A rejection stays visible until
/// a later reload is applied or finds the files unchanged.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadRecord {
    pub at: DateTime<Utc>,
    pub trigger: Trigger,
    pub outcome: &'static str,
    /// The revision in service after the reload.
    pub revision: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection: Option<Rejection>,
}

/// What a rule set must satisfy, beyond being valid, to go into service.
#[derive(Debug, Clone, Copy, Default)]
pub struct RulesPolicy {
    /// Accept a set without any rule (every call is then kept). Off by
    /// default: an empty file is far more often a failed save or deploy
    /// than a wish to stop routing.
    pub allow_empty: bool,
}

impl RulesPolicy {
    /// `active` if it may go into service, or why not.
    fn admit(self, active: ActiveRules) -> Result<ActiveRules, Rejection> {
        if self.allow_empty || active.rule_set.rule_count() > 0 {
            return Ok(active);
        }
        let files = match active.files.as_slice() {
            [] => "the rules path holds no `*.rules` file".to_owned(),
            [one] => format!("{one} has no rule"),
            many => format!("none of {} has a rule", many.join(", ")),
        };
        Err(Rejection {
            reason: format!(
                "{files} (empty, truncated or only definitions): every call would be kept \
                 without routing; write at least one `when ...` rule, or set \
                 `allow_empty_rules: true` in the configuration to run without rules"
            ),
            diagnostics: Vec::new(),
            report: None,
        })
    }
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    policy: RulesPolicy,
    active: ArcSwap<ActiveRules>,
    last: Mutex<Option<ReloadRecord>>,
    /// Serialises reloads: compile and swap happen as one step.
    reloading: Mutex<()>,
    /// Reloads done since start-up, whatever their outcome.
    reloads: AtomicU64,
    metrics: Arc<Metrics>,
}

/// The rules in service, shared by every request and every reload trigger.
#[derive(Debug, Clone)]
pub struct RulesHandle {
    inner: Arc<Inner>,
}

impl RulesHandle {
    /// Loads the rules at `path` for start-up. Unlike a reload there is
    /// nothing to fall back on, so an invalid set is an error.
    pub fn load(path: impl Into<PathBuf>, metrics: Arc<Metrics>) -> Result<RulesHandle, Rejection> {
        RulesHandle::load_with(path, metrics, RulesPolicy::default())
    }

    /// [`RulesHandle::load`] with a policy other than the default.
    pub fn load_with(
        path: impl Into<PathBuf>,
        metrics: Arc<Metrics>,
        policy: RulesPolicy,
    ) -> Result<RulesHandle, Rejection> {
        let path = path.into();
        let active = policy.admit(compile_path(&path)?)?;
        if let Some(warnings) = &active.warnings {
            tracing::warn!(
                revision = active.revision(),
                "rules loaded with {}\n{}",
                warnings.summary,
                warnings.rendered
            );
        }
        tracing::info!(
            revision = active.revision(),
            rules = active.rule_set.rule_count(),
            files = ?active.files,
            "rules loaded"
        );
        Ok(RulesHandle {
            inner: Arc::new(Inner {
                path,
                policy,
                active: ArcSwap::from_pointee(active),
                last: Mutex::new(None),
                reloading: Mutex::new(()),
                reloads: AtomicU64::new(0),
                metrics,
            }),
        })
    }

    /// The rules path (a file or a directory).
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The rule set in service. Load it once per unit of work (one webhook)
    /// and keep the guard: loading twice could see two different sets.
    pub fn current(&self) -> Guard<Arc<ActiveRules>> {
        self.inner.active.load()
    }

    /// The rule set in service, as an owned `Arc` (for long-lived holders).
    pub fn current_arc(&self) -> Arc<ActiveRules> {
        self.inner.active.load_full()
    }

    /// The last reload's record, if there was a reload since start-up.
    pub fn last_reload(&self) -> Option<ReloadRecord> {
        self.inner
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Reads and compiles the rules path again; puts the result in service
    /// only if it has no error. Blocking (file I/O and compilation): call
    /// it from `spawn_blocking` in async code.
    pub fn reload(&self, trigger: Trigger) -> ReloadOutcome {
        let _serial = self
            .inner
            .reloading
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let previous = self.inner.active.load_full();
        let outcome = match read_sources(&self.inner.path) {
            Err(rejection) => ReloadOutcome::Rejected(rejection),
            Ok(sources) => match sources.digest() {
                digest if digest == previous.fingerprint => ReloadOutcome::Unchanged {
                    revision: previous.revision().to_owned(),
                },
                digest => match compile_sources(sources, digest)
                    .and_then(|active| self.inner.policy.admit(active))
                {
                    Err(rejection) => ReloadOutcome::Rejected(rejection),
                    Ok(active) => {
                        let revision = active.revision().to_owned();
                        let warnings = active.warnings.clone();
                        self.inner.active.store(Arc::new(active));
                        ReloadOutcome::Applied {
                            revision,
                            previous: previous.revision().to_owned(),
                            warnings,
                        }
                    }
                },
            },
        };
        self.record(trigger, &outcome);
        outcome
    }

    /// How many reloads were done since start-up, whatever their outcome
    /// (unchanged ones too): a generation to wait on.
    pub fn reloads(&self) -> u64 {
        self.inner.reloads.load(Ordering::Acquire)
    }

    fn record(&self, trigger: Trigger, outcome: &ReloadOutcome) {
        let trigger_name = trigger.as_str();
        let revision = self.inner.active.load().revision().to_owned();
        match outcome {
            ReloadOutcome::Applied {
                revision,
                previous,
                warnings,
            } => {
                tracing::info!(
                    trigger = trigger_name,
                    revision = revision.as_str(),
                    previous = previous.as_str(),
                    "rules reloaded"
                );
                if let Some(warnings) = warnings {
                    tracing::warn!(
                        revision = revision.as_str(),
                        "new rules have {}\n{}",
                        warnings.summary,
                        warnings.rendered
                    );
                }
            }
            ReloadOutcome::Unchanged { revision } => {
                tracing::debug!(
                    trigger = trigger_name,
                    revision = revision.as_str(),
                    "rules unchanged"
                );
            }
            ReloadOutcome::Rejected(rejection) => {
                tracing::error!(
                    trigger = trigger_name,
                    keeping = revision.as_str(),
                    "rules rejected ({}); keeping the rules in service\n{}",
                    rejection.reason,
                    rejection.rendered()
                );
            }
        }
        self.inner.metrics.reload(outcome.as_str());
        let record = ReloadRecord {
            at: Utc::now(),
            trigger,
            outcome: outcome.as_str(),
            revision,
            rejection: match outcome {
                ReloadOutcome::Rejected(rejection) => Some(rejection.clone()),
                _ => None,
            },
        };
        *self
            .inner
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(record);
        // Counted last: whoever sees the new count sees the record too.
        self.inner.reloads.fetch_add(1, Ordering::Release);
    }
}

/// The result of checking a rules text without putting it in service
/// (`POST /admin/check`).
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub valid: bool,
    pub errors: usize,
    pub warnings: usize,
    /// The revision the text would have in service.
    pub revision: Option<String>,
    pub report: Report,
}

/// Compiles one rules text named `name`, exactly as a reload would.
pub fn check_text(name: &str, text: &str) -> CheckReport {
    let compiled = lang::compile(Sources::single(name, text), &check_options());
    let report = Report::new(&compiled.diagnostics, &compiled.sources);
    CheckReport {
        valid: compiled.rule_set.is_some(),
        errors: compiled.error_count(),
        warnings: compiled.warning_count(),
        revision: compiled
            .rule_set
            .as_ref()
            .map(|rule_set| rule_set.revision().to_owned()),
        report,
    }
}

fn check_options() -> CheckOptions {
    loader::check_options(Utc::now().date_naive())
}

fn read_sources(path: &Path) -> Result<Sources, Rejection> {
    loader::load_sources(path).map_err(|error| Rejection {
        reason: error.to_string(),
        diagnostics: Vec::new(),
        report: None,
    })
}

fn compile_path(path: &Path) -> Result<ActiveRules, Rejection> {
    let sources = read_sources(path)?;
    let digest = sources.digest();
    compile_sources(sources, digest)
}

/// Compiles `sources`, whose [`Sources::digest`] the caller has already
/// computed (a reload needs it first, to tell an unchanged set).
fn compile_sources(sources: Sources, fingerprint: [u8; 32]) -> Result<ActiveRules, Rejection> {
    let files = sources.iter().map(|(_, file)| file.name.clone()).collect();
    let compiled = lang::compile(sources, &check_options());
    let report = Report::new(&compiled.diagnostics, &compiled.sources);
    match compiled.rule_set {
        Some(rule_set) => Ok(ActiveRules {
            rule_set,
            loaded_at: Utc::now(),
            files,
            warnings: (!compiled.diagnostics.is_empty()).then_some(report),
            fingerprint,
        }),
        None => Err(Rejection {
            reason: report.summary.clone(),
            diagnostics: compiled.diagnostics,
            report: Some(report),
        }),
    }
}

/// Reloads on every SIGHUP until the runtime stops. The signal handler is
/// registered before this returns, so a SIGHUP sent afterwards is never
/// the default "terminate".
#[cfg(unix)]
pub fn reload_on_sighup(handle: RulesHandle) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = signal(SignalKind::hangup())?;
    Ok(tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            let handle = handle.clone();
            let reloaded =
                tokio::task::spawn_blocking(move || handle.reload(Trigger::Signal)).await;
            if let Err(error) = reloaded {
                tracing::error!(%error, "SIGHUP reload task failed");
            }
        }
    }))
}
