//! Carries decisions out: a bounded queue between the webhook handler and
//! the Aircall API.
//!
//! The webhook handler must answer Aircall within 5 s whatever the API
//! does, so it only [`Dispatcher::try_submit`]s a [`Job`] (never waits;
//! a full queue is its cue to answer 503 so Aircall redelivers). Jobs are
//! taken in order and worked on a bounded number at a time (the shared rate
//! limiter, not the worker count, paces requests). A transfer resolves its
//! target through the [`Directory`] (falling through the rule's fallbacks,
//! skipping those known to be unavailable, then keeping the call) and sends
//! exactly one transfer request. Tags and comments go to a separate pool
//! with background priority, so they never delay a transfer. Every action ends in exactly one
//! [`ActionRecord`] handed to the [`OutcomeSink`].
//!
//! Transfers are not idempotent. A request is repeated only when it surely
//! had no effect (no connection was made; a 429, after the reset); after a
//! timeout, a broken connection or a 5xx it is never resent and the outcome
//! is recorded as unknown. A job whose call started more than the deadline
//! ago is dropped as expired: the caller has hung up or been answered.
//! A second job for a call already submitted is recorded as a duplicate
//! and sends nothing. A transfer goes out only once the sink has noted it
//! as being sent ([`OutcomeSink::sending`]); when the sink refuses (the
//! call's claim went to another replica) it is a duplicate too.
//!
//! What it must not do: block the caller of `try_submit`, retry a request
//! that may have taken effect, or send anything in dry-run.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::client::{AircallClient, ApiError, TransferTarget};
use super::directory::Directory;
use super::presence::PresenceBook;
use crate::lang::outcome::{RuleRef, Skipped};
use crate::lang::{Action, Decision, Presence, Target};
use crate::recent::RecentIds;

/// Dispatcher settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchConfig {
    /// How long after a call starts its actions are still worth doing.
    pub deadline: Duration,
    /// Jobs the queue holds before `try_submit` says [`QueueFull`].
    pub capacity: usize,
    /// Jobs worked on at once (at least 1); as many tags and comments
    /// run beside them. The budget, not this, limits requests to Aircall.
    pub workers: usize,
    /// Attempts for a request that surely had no effect (at least 1).
    pub max_attempts: u32,
    /// Pause before re-sending after a refused connection; doubles.
    pub retry_backoff: Duration,
    /// Call ids remembered to refuse duplicates (for the deadline, at most
    /// this many, rounded up to a multiple of nine: the oldest are
    /// forgotten first, so a flood stays bounded; see [`RecentIds`]).
    pub remembered_calls: usize,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            deadline: Duration::from_secs(30),
            capacity: 1024,
            workers: 16,
            max_attempts: 3,
            retry_backoff: Duration::from_millis(200),
            remembered_calls: 100_000,
        }
    }
}

/// The actions decided for one call.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Aircall's call id (Int64).
    pub call_id: i64,
    /// `data.started_at`: the deadline counts from here.
    pub call_started_at: DateTime<Utc>,
    /// The evaluator's decision; its `rule` is recorded with each action.
    pub decision: Decision,
    /// The revision of the rule set that decided.
    pub revision: String,
}

/// The queue is full (or the dispatcher is shutting down): the webhook
/// should be answered 503 so Aircall delivers it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", if *.shutting_down { "the dispatcher is shutting down".to_owned() } else { format!("the dispatch queue is full ({} jobs)", .capacity) })]
pub struct QueueFull {
    pub capacity: usize,
    pub shutting_down: bool,
}

/// Which action a record is about: the `action` label of metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Transfer,
    Keep,
    Tag,
    Comment,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Transfer => "transfer",
            ActionKind::Keep => "keep",
            ActionKind::Tag => "tag",
            ActionKind::Comment => "comment",
        }
    }
}

/// How an action ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DispatchOutcome {
    /// Aircall accepted it.
    Sent,
    /// Dry-run: it would have been sent; nothing was.
    DryRun,
    /// It surely did not take effect (refused, rejected, retries spent).
    Failed { reason: String },
    /// It may or may not have taken effect (timeout, 5xx); not resent.
    Unknown { reason: String },
    /// The call is older than the deadline; nothing was sent.
    Expired,
    /// The call is left to Aircall's own distribution.
    Kept { reason: String },
    /// Not attempted, with the reason (e.g. a tag that does not exist).
    Skipped { reason: String },
    /// Another job for this call was already submitted (here, or on the
    /// replica that took the call's claim over); nothing was sent.
    Duplicate,
}

impl DispatchOutcome {
    /// `sent`, `dry_run`, `failed`, ...: the `status` label of metrics.
    pub fn label(&self) -> &'static str {
        match self {
            DispatchOutcome::Sent => "sent",
            DispatchOutcome::DryRun => "dry_run",
            DispatchOutcome::Failed { .. } => "failed",
            DispatchOutcome::Unknown { .. } => "unknown",
            DispatchOutcome::Expired => "expired",
            DispatchOutcome::Kept { .. } => "kept",
            DispatchOutcome::Skipped { .. } => "skipped",
            DispatchOutcome::Duplicate => "duplicate",
        }
    }
}

/// What happened to one action of one call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionRecord {
    pub call_id: i64,
    pub revision: String,
    /// The deciding rule (`None`: no rule matched).
    pub rule: Option<RuleRef>,
    pub action: ActionKind,
    /// What the action was aimed at, resolved when it could be:
    /// `user 42 (alice@example.com)`, `team 7`, `number +1800...`,
    /// `tag "VIP"`.
    pub target: Option<String>,
    #[serde(flatten)]
    pub status: DispatchOutcome,
    /// Targets passed over before the one used (unresolved, unavailable).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
    /// Requests sent for this action (0 when none was).
    pub attempts: u32,
    /// From submission to this outcome.
    #[serde(rename = "latency_ms", serialize_with = "millis")]
    pub latency: Duration,
}

fn millis<S: Serializer>(latency: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(latency.as_secs_f64() * 1000.0)
}

impl ActionRecord {
    /// One line for logs: `transfer to user 42: sent`, `dry-run: would
    /// transfer to number +1800...`, `transfer: kept (no target ...)`.
    pub fn summary(&self) -> String {
        let what = match (&self.action, &self.target) {
            (ActionKind::Transfer, Some(target)) => format!("transfer to {target}"),
            (ActionKind::Comment, Some(target)) => format!("comment {target}"),
            (action, Some(target)) => format!("{} {target}", action.as_str()),
            (action, None) => action.as_str().to_owned(),
        };
        match &self.status {
            DispatchOutcome::DryRun => format!("dry-run: would {what}"),
            DispatchOutcome::Sent => format!("{what}: sent"),
            DispatchOutcome::Failed { reason } => format!("{what}: failed ({reason})"),
            DispatchOutcome::Unknown { reason } => format!("{what}: outcome unknown ({reason})"),
            DispatchOutcome::Expired => format!("{what}: expired (call older than the deadline)"),
            DispatchOutcome::Kept { reason } => format!("{what}: kept ({reason})"),
            DispatchOutcome::Skipped { reason } => format!("{what}: skipped ({reason})"),
            DispatchOutcome::Duplicate => format!("{what}: duplicate (already submitted)"),
        }
    }
}

/// Receives every [`ActionRecord`] (the server logs and counts them).
/// Called from worker tasks and, for immediate outcomes, from
/// `try_submit`: keep it quick and non-blocking.
pub trait OutcomeSink: Send + Sync + 'static {
    fn record(&self, record: ActionRecord);

    /// Called, and awaited, just before a transfer request is sent: a
    /// durable sink notes that the call's transfer may now have taken
    /// effect, so that after a crash it is not sent a second time. The
    /// request goes out only if this says [`Clearance::Cleared`]. The
    /// default clears every transfer.
    fn sending(&self, _call_id: i64) -> SendingFuture<'_> {
        Box::pin(std::future::ready(Clearance::Cleared))
    }
}

/// What [`OutcomeSink::sending`] returns.
pub type SendingFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Clearance> + Send + 'a>>;

/// Whether a transfer may be sent, as the sink said before it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clearance {
    /// Noted as being sent: send it.
    Cleared,
    /// Another replica holds the call now (it took this one for gone):
    /// that one carries it out. Recorded as a duplicate.
    ClaimedElsewhere,
    /// It could not be noted (the reason): not sent, as a crash now could
    /// get it sent twice. Recorded as failed.
    NotNoted(String),
}

/// A job on its way, with its clock.
struct Queued {
    job: Job,
    submitted: Instant,
    deadline: Instant,
}

/// A tag or comment, handed from a transfer worker to the annotation worker.
struct Annotation {
    job: Arc<JobInfo>,
    action: Action,
    submitted: Instant,
    deadline: Instant,
}

/// What every record of a job repeats.
struct JobInfo {
    call_id: i64,
    revision: String,
    rule: Option<RuleRef>,
}

/// State shared by the handle and the workers.
struct Shared {
    config: DispatchConfig,
    dry_run: bool,
    sender: mpsc::Sender<Queued>,
    sink: Arc<dyn OutcomeSink>,
    /// Recent call ids and the closing flag, under one lock so that a job
    /// is either enqueued before shutdown begins or refused.
    admission: Mutex<Admission>,
    shutdown: watch::Sender<bool>,
    workers: tokio::sync::Mutex<Vec<JoinHandle<()>>>,
}

struct Admission {
    /// Call ids submitted recently, to refuse a second job for the same
    /// call. They are remembered as long as a job can live (the deadline:
    /// a later redelivery is expired anyway).
    recent: RecentIds,
    closing: bool,
}

/// The handle to the queue and its workers. Cloning shares them.
#[derive(Clone)]
pub struct Dispatcher {
    shared: Arc<Shared>,
}

impl fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatcher")
            .field("dry_run", &self.shared.dry_run)
            .field("queue_depth", &self.queue_depth())
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// Starts the workers (inside a tokio runtime). `client: None` is
    /// dry-run: every action is recorded as what it would have done.
    pub fn spawn(
        config: DispatchConfig,
        client: Option<AircallClient>,
        directory: Arc<Directory>,
        presence: Arc<PresenceBook>,
        sink: Arc<dyn OutcomeSink>,
    ) -> Dispatcher {
        let config = DispatchConfig {
            capacity: config.capacity.max(1),
            workers: config.workers.max(1),
            max_attempts: config.max_attempts.max(1),
            ..config
        };
        let (sender, receiver) = mpsc::channel(config.capacity);
        let (annotation_sender, annotation_receiver) = mpsc::channel(config.capacity);
        let (shutdown, _) = watch::channel(false);
        let dry_run = client.is_none();
        let worker = Arc::new(Worker {
            config: config.clone(),
            client,
            directory,
            presence,
            sink: Arc::clone(&sink),
        });
        let handles = vec![
            tokio::spawn(transfer_pool(
                Arc::clone(&worker),
                receiver,
                annotation_sender,
                shutdown.subscribe(),
            )),
            // Stops when the transfer pool and its tasks (the senders) are
            // gone, so on shutdown it finishes after them.
            tokio::spawn(annotation_pool(Arc::clone(&worker), annotation_receiver)),
        ];
        Dispatcher {
            shared: Arc::new(Shared {
                admission: Mutex::new(Admission {
                    recent: RecentIds::new(config.deadline, config.remembered_calls),
                    closing: false,
                }),
                config,
                dry_run,
                sender,
                sink,
                shutdown,
                workers: tokio::sync::Mutex::new(handles),
            }),
        }
    }

    /// Hands a job over without waiting. Outcomes known at once (nothing to
    /// send, a duplicate, an already expired call) are recorded here;
    /// everything else is queued. `Err` only when the queue is full or the
    /// dispatcher is shutting down: nothing was recorded, the job may come
    /// again (Aircall redelivers after a 503).
    pub fn try_submit(&self, job: Job) -> Result<(), QueueFull> {
        let now = Instant::now();
        let info = JobInfo {
            call_id: job.call_id,
            revision: job.revision.clone(),
            rule: job.decision.rule.clone(),
        };
        let needs_work = job
            .decision
            .actions
            .iter()
            .any(|action| !matches!(action, Action::Keep { .. }));
        if !needs_work {
            for action in &job.decision.actions {
                self.shared
                    .sink
                    .record(immediate(&info, action, keep_outcome(action), 0, now));
            }
            return Ok(());
        }
        let age = (Utc::now() - job.call_started_at)
            .to_std()
            .unwrap_or_default();
        let remaining = self.shared.config.deadline.saturating_sub(age);
        let mut admission = self.lock_admission();
        if admission.closing {
            return Err(QueueFull {
                capacity: self.shared.config.capacity,
                shutting_down: true,
            });
        }
        admission.recent.expire(now.into_std());
        if admission.recent.contains(job.call_id) {
            drop(admission);
            for action in &job.decision.actions {
                self.shared.sink.record(immediate(
                    &info,
                    action,
                    DispatchOutcome::Duplicate,
                    0,
                    now,
                ));
            }
            return Ok(());
        }
        if remaining.is_zero() {
            drop(admission);
            for action in &job.decision.actions {
                self.shared
                    .sink
                    .record(immediate(&info, action, DispatchOutcome::Expired, 0, now));
            }
            return Ok(());
        }
        admission.recent.insert(job.call_id, now.into_std());
        let queued = Queued {
            job,
            submitted: now,
            deadline: now + remaining,
        };
        match self.shared.sender.try_send(queued) {
            Ok(()) => Ok(()),
            Err(error) => {
                // Not queued: forget the call so a redelivery is not a
                // "duplicate" of something that never happened.
                let call_id = match &error {
                    mpsc::error::TrySendError::Full(queued)
                    | mpsc::error::TrySendError::Closed(queued) => queued.job.call_id,
                };
                admission.recent.remove(call_id);
                Err(QueueFull {
                    capacity: self.shared.config.capacity,
                    shutting_down: matches!(error, mpsc::error::TrySendError::Closed(_)),
                })
            }
        }
    }

    /// Jobs waiting in the queue (not counting those being worked on).
    pub fn queue_depth(&self) -> usize {
        self.shared.sender.max_capacity() - self.shared.sender.capacity()
    }

    /// Whether this dispatcher only records what it would do.
    pub fn is_dry_run(&self) -> bool {
        self.shared.dry_run
    }

    /// The settings in force.
    pub fn config(&self) -> &DispatchConfig {
        &self.shared.config
    }

    /// Stops taking jobs, finishes those queued (jobs past their deadline
    /// are recorded as expired without a request), then returns. Later
    /// `try_submit`s are refused. Calling it again (from a clone) returns
    /// once the first shutdown is done.
    pub async fn shutdown(self) {
        self.lock_admission().closing = true;
        let _ = self.shared.shutdown.send(true);
        let mut workers = self.shared.workers.lock().await;
        for handle in workers.drain(..) {
            // A worker that panicked has nothing more to finish.
            let _ = handle.await;
        }
    }

    fn lock_admission(&self) -> std::sync::MutexGuard<'_, Admission> {
        // Plain bookkeeping, whole after every statement: poisoning is harmless.
        self.shared
            .admission
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn keep_outcome(action: &Action) -> DispatchOutcome {
    match action {
        Action::Keep { reason } => DispatchOutcome::Kept {
            reason: reason
                .clone()
                .unwrap_or_else(|| "the rule keeps the call".to_owned()),
        },
        _ => DispatchOutcome::Skipped {
            reason: "not attempted".to_owned(),
        },
    }
}

fn kind_of(action: &Action) -> ActionKind {
    match action {
        Action::Transfer { .. } => ActionKind::Transfer,
        Action::Keep { .. } => ActionKind::Keep,
        Action::Tag { .. } => ActionKind::Tag,
        Action::Comment { .. } => ActionKind::Comment,
    }
}

/// The target of an action as written by the rule.
fn written_target(action: &Action) -> Option<String> {
    match action {
        Action::Transfer { to, .. } => Some(to.to_string()),
        Action::Keep { .. } => None,
        Action::Tag { tag } => Some(format!("{tag:?}")),
        Action::Comment { text } => Some(format!("{text:?}")),
    }
}

fn immediate(
    info: &JobInfo,
    action: &Action,
    status: DispatchOutcome,
    attempts: u32,
    since: Instant,
) -> ActionRecord {
    ActionRecord {
        call_id: info.call_id,
        revision: info.revision.clone(),
        rule: info.rule.clone(),
        action: kind_of(action),
        target: written_target(action),
        status,
        skipped: Vec::new(),
        attempts,
        latency: since.elapsed(),
    }
}

/// Everything a worker needs; shared by all of them.
struct Worker {
    config: DispatchConfig,
    client: Option<AircallClient>,
    directory: Arc<Directory>,
    presence: Arc<PresenceBook>,
    sink: Arc<dyn OutcomeSink>,
}

/// Takes jobs off the queue while fewer than `workers` are in flight, and
/// runs each as its own task. A job leaves the queue only when a slot is
/// free, so the queue depth is the backlog. On shutdown the queue is
/// drained, then the jobs in flight are awaited.
async fn transfer_pool(
    worker: Arc<Worker>,
    mut receiver: mpsc::Receiver<Queued>,
    annotations: mpsc::Sender<Annotation>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(worker.config.workers));
    let mut running = JoinSet::new();
    loop {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let next = tokio::select! {
            // Queued jobs first: on shutdown the queue is drained before
            // the signal is even looked at.
            biased;
            queued = receiver.recv() => queued,
            _ = shutdown.wait_for(|stop| *stop) => receiver.try_recv().ok(),
        };
        let Some(queued) = next else {
            break;
        };
        let (worker, annotations) = (Arc::clone(&worker), annotations.clone());
        running.spawn(async move {
            worker.process(queued, &annotations).await;
            drop(slot);
        });
        // Reap finished tasks so the set stays as small as the slots.
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
}

/// Runs tags and comments, `workers` at a time, until every transfer task
/// (the senders) is gone.
async fn annotation_pool(worker: Arc<Worker>, mut receiver: mpsc::Receiver<Annotation>) {
    let slots = Arc::new(Semaphore::new(worker.config.workers));
    let mut running = JoinSet::new();
    loop {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let Some(annotation) = receiver.recv().await else {
            break;
        };
        let worker = Arc::clone(&worker);
        running.spawn(async move {
            let record = worker.annotate(&annotation).await;
            worker.sink.record(record);
            drop(slot);
        });
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
}

impl Worker {
    async fn process(&self, queued: Queued, annotations: &mpsc::Sender<Annotation>) {
        let Queued {
            job,
            submitted,
            deadline,
        } = queued;
        let info = Arc::new(JobInfo {
            call_id: job.call_id,
            revision: job.revision,
            rule: job.decision.rule,
        });
        let expired = Instant::now() >= deadline;
        // Set when the call's claim turns out to be another replica's:
        // that one carries out the rest of the decision.
        let mut claimed_elsewhere = false;
        for action in job.decision.actions {
            if expired || claimed_elsewhere {
                let status = if expired {
                    DispatchOutcome::Expired
                } else {
                    DispatchOutcome::Duplicate
                };
                self.sink
                    .record(immediate(&info, &action, status, 0, submitted));
                continue;
            }
            match action {
                Action::Transfer { to, fallbacks, .. } => {
                    let record = self
                        .transfer(&info, &to, &fallbacks, submitted, deadline)
                        .await;
                    claimed_elsewhere = record.status == DispatchOutcome::Duplicate;
                    self.sink.record(record);
                }
                Action::Keep { .. } => {
                    let outcome = keep_outcome(&action);
                    self.sink
                        .record(immediate(&info, &action, outcome, 0, submitted));
                }
                Action::Tag { .. } | Action::Comment { .. } => {
                    let annotation = Annotation {
                        job: Arc::clone(&info),
                        action,
                        submitted,
                        deadline,
                    };
                    if let Err(error) = annotations.try_send(annotation) {
                        let annotation = match error {
                            mpsc::error::TrySendError::Full(annotation)
                            | mpsc::error::TrySendError::Closed(annotation) => annotation,
                        };
                        let outcome = DispatchOutcome::Failed {
                            reason: "the annotation queue is full".to_owned(),
                        };
                        self.sink.record(immediate(
                            &info,
                            &annotation.action,
                            outcome,
                            0,
                            submitted,
                        ));
                    }
                }
            }
        }
    }

    /// Picks the first target that resolves (and, for a fallback, is not
    /// known to be unavailable), then sends the transfer.
    async fn transfer(
        &self,
        info: &JobInfo,
        to: &Target,
        fallbacks: &[Target],
        submitted: Instant,
        deadline: Instant,
    ) -> ActionRecord {
        let mut record = ActionRecord {
            call_id: info.call_id,
            revision: info.revision.clone(),
            rule: info.rule.clone(),
            action: ActionKind::Transfer,
            target: Some(to.to_string()),
            status: DispatchOutcome::DryRun,
            skipped: Vec::new(),
            attempts: 0,
            latency: Duration::ZERO,
        };
        // In dry-run without a directory, names cannot be resolved: say what
        // the rule asked for rather than pretend the lookup failed.
        if self.client.is_none() && !self.directory.is_loaded() {
            record.latency = submitted.elapsed();
            return record;
        }
        let mut chosen = None;
        for (index, target) in std::iter::once(to).chain(fallbacks).enumerate() {
            match self.directory.resolve(target) {
                Ok(resolved) => {
                    // The evaluator already weighed availability for `to`;
                    // fallbacks are re-checked against the latest news.
                    let unavailable = index > 0
                        && matches!(
                            resolved,
                            TransferTarget::User { id } if self.presence.presence_of(id) == Presence::Unavailable
                        );
                    if unavailable {
                        record.skipped.push(Skipped {
                            target: target.to_string(),
                            reason: "unavailable".to_owned(),
                        });
                        continue;
                    }
                    chosen = Some(resolved);
                    break;
                }
                Err(unresolved) => record.skipped.push(Skipped {
                    target: unresolved.target,
                    reason: unresolved.reason,
                }),
            }
        }
        let Some(target) = chosen else {
            let reasons: Vec<String> = record
                .skipped
                .iter()
                .map(|skipped| format!("{}: {}", skipped.target, skipped.reason))
                .collect();
            record.status = DispatchOutcome::Kept {
                reason: format!("no target could be used ({})", reasons.join("; ")),
            };
            record.latency = submitted.elapsed();
            return record;
        };
        record.target = Some(self.describe(&target));
        let Some(client) = &self.client else {
            record.latency = submitted.elapsed();
            return record;
        };
        let (call_id, target_ref) = (info.call_id, &target);
        match self.sink.sending(call_id).await {
            Clearance::Cleared => {}
            Clearance::ClaimedElsewhere => {
                record.status = DispatchOutcome::Duplicate;
                record.latency = submitted.elapsed();
                return record;
            }
            Clearance::NotNoted(reason) => {
                record.status = DispatchOutcome::Failed {
                    reason: format!("not sent: it could not be noted as being sent ({reason})"),
                };
                record.latency = submitted.elapsed();
                return record;
            }
        }
        let (status, attempts) = self
            .send(deadline, move || {
                client.transfer(call_id, target_ref, Some(deadline))
            })
            .await;
        record.status = status;
        record.attempts = attempts;
        record.latency = submitted.elapsed();
        record
    }

    /// `user 42 (alice@example.com)` when the e-mail is known.
    fn describe(&self, target: &TransferTarget) -> String {
        match target {
            TransferTarget::User { id } => match self.directory.user_email(*id) {
                Some(email) => format!("user {id} ({email})"),
                None => format!("user {id}"),
            },
            other => other.to_string(),
        }
    }

    async fn annotate(&self, annotation: &Annotation) -> ActionRecord {
        let info = &annotation.job;
        let mut record = immediate(
            info,
            &annotation.action,
            DispatchOutcome::DryRun,
            0,
            annotation.submitted,
        );
        if Instant::now() >= annotation.deadline {
            record.status = DispatchOutcome::Expired;
            return record;
        }
        let (status, attempts) = match (&annotation.action, &self.client) {
            (Action::Tag { .. } | Action::Comment { .. }, None) => (DispatchOutcome::DryRun, 0),
            (Action::Tag { tag }, Some(client)) => match self.directory.tag_id(tag) {
                Some(id) => {
                    let ids = [id];
                    let (call_id, ids, deadline) = (info.call_id, &ids, annotation.deadline);
                    self.send(deadline, move || {
                        client.tag_call(call_id, ids, Some(deadline))
                    })
                    .await
                }
                None => (
                    DispatchOutcome::Skipped {
                        reason: if self.directory.is_loaded() {
                            "no Aircall tag has this name (tags must exist in Aircall)".to_owned()
                        } else {
                            "the Aircall directory is not loaded yet".to_owned()
                        },
                    },
                    0,
                ),
            },
            (Action::Comment { text }, Some(client)) => {
                let (call_id, deadline) = (info.call_id, annotation.deadline);
                self.send(deadline, move || {
                    client.comment_call(call_id, text, Some(deadline))
                })
                .await
            }
            (Action::Transfer { .. } | Action::Keep { .. }, _) => {
                (keep_outcome(&annotation.action), 0)
            }
        };
        record.status = status;
        record.attempts = attempts;
        record.latency = annotation.submitted.elapsed();
        record
    }

    /// Sends a non-idempotent request, repeating it only while it surely
    /// had no effect and attempts and time remain.
    async fn send<F, Fut>(&self, deadline: Instant, request: F) -> (DispatchOutcome, u32)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), ApiError>>,
    {
        let mut attempts = 0;
        loop {
            if Instant::now() >= deadline {
                return (DispatchOutcome::Expired, attempts);
            }
            attempts += 1;
            let error = match request().await {
                Ok(()) => return (DispatchOutcome::Sent, attempts),
                Err(error) => error,
            };
            match error {
                // Never sent: the budget would not allow it in time.
                ApiError::NoBudget(_) => return (DispatchOutcome::Expired, attempts - 1),
                error if error.surely_not_applied() => {
                    if attempts >= self.config.max_attempts {
                        return (
                            DispatchOutcome::Failed {
                                reason: format!("{error} (after {attempts} attempts)"),
                            },
                            attempts,
                        );
                    }
                    // A 429 waits in the limiter until the reset; a refused
                    // connection waits here, a little longer each time.
                    if !matches!(error, ApiError::RateLimited { .. }) {
                        let factor = 2u32.saturating_pow(attempts - 1);
                        let pause = self.config.retry_backoff.saturating_mul(factor);
                        tokio::time::sleep_until((Instant::now() + pause).min(deadline)).await;
                    }
                }
                error if error.outcome_unknown() => {
                    return (
                        DispatchOutcome::Unknown {
                            reason: format!("{error}; not resent because it may have taken effect"),
                        },
                        attempts,
                    );
                }
                error => {
                    return (
                        DispatchOutcome::Failed {
                            reason: error.to_string(),
                        },
                        attempts,
                    )
                }
            }
        }
    }
}
