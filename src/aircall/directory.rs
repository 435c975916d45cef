//! The Aircall directory kept in memory: users by e-mail, teams by name,
//! tags by name.
//!
//! Rules name agents by e-mail and teams by name; the transfer endpoint
//! wants ids. Looking them up per call would cost requests from the shared
//! budget on every routed call, so the directory is loaded once at start,
//! refreshed periodically and on `user.created` / `user.deleted`
//! webhooks, and read lock-free (arc-swap) by every resolution. A routed
//! call then costs exactly one request: the transfer.
//!
//! What it must not do: make a request while resolving (resolution is a
//! memory lookup and may run on the webhook path), or replace a good
//! snapshot with a partial one (a refresh that fails half-way keeps the
//! previous snapshot and records the error).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::client::{AircallClient, ApiError, ApiTag, ApiTeam, ApiUser, TransferTarget};
use super::webhook::Envelope;
use crate::lang::outcome::{TeamTarget, UserTarget};
use crate::lang::Target;

/// One immutable view of the directory.
#[derive(Debug, Clone, Default)]
struct Snapshot {
    /// Lower-cased e-mail to user id.
    users_by_email: HashMap<String, u64>,
    /// User id to e-mail (as Aircall spells it), for display and presence.
    emails_by_id: HashMap<u64, String>,
    /// Exact team name to id.
    teams_by_name: HashMap<String, u64>,
    /// Lower-cased team name to id; `None` when two teams differ only by case.
    teams_by_folded_name: HashMap<String, Option<u64>>,
    /// Lower-cased tag name to id.
    tags_by_name: HashMap<String, u64>,
    /// When the last complete load finished; `None` until one has.
    loaded_at: Option<DateTime<Utc>>,
}

impl Snapshot {
    fn build(
        users: &[ApiUser],
        teams: &[ApiTeam],
        tags: &[ApiTag],
        loaded_at: Option<DateTime<Utc>>,
    ) -> Snapshot {
        let mut snapshot = Snapshot {
            loaded_at,
            ..Snapshot::default()
        };
        for user in users {
            if let Some(email) = &user.email {
                snapshot.insert_user(user.id, email);
            }
        }
        for team in teams {
            snapshot.teams_by_name.insert(team.name.clone(), team.id);
            snapshot
                .teams_by_folded_name
                .entry(team.name.to_lowercase())
                .and_modify(|existing| {
                    if *existing != Some(team.id) {
                        *existing = None;
                    }
                })
                .or_insert(Some(team.id));
        }
        for tag in tags {
            snapshot
                .tags_by_name
                .insert(tag.name.trim().to_lowercase(), tag.id);
        }
        snapshot
    }

    fn insert_user(&mut self, id: u64, email: &str) {
        let email = email.trim();
        if email.is_empty() {
            return;
        }
        if let Some(previous) = self.emails_by_id.insert(id, email.to_owned()) {
            self.users_by_email.remove(&previous.to_lowercase());
        }
        self.users_by_email.insert(email.to_lowercase(), id);
    }

    fn remove_user(&mut self, id: u64) {
        if let Some(email) = self.emails_by_id.remove(&id) {
            self.users_by_email.remove(&email.to_lowercase());
        }
    }
}

/// A target the directory could not turn into ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{target}: {reason}")]
pub struct Unresolved {
    /// The target as the rule wrote it, e.g. `agent alice@example.com`.
    pub target: String,
    /// Why, e.g. `no Aircall user has this e-mail`.
    pub reason: String,
}

/// The directory's state for `/status` and `/readyz`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DirectoryStatus {
    /// Whether a complete load has succeeded (readiness in live mode).
    pub loaded: bool,
    pub users: usize,
    pub teams: usize,
    pub tags: usize,
    pub loaded_at: Option<DateTime<Utc>>,
    /// Seconds since `loaded_at`.
    pub age_seconds: Option<i64>,
    /// The error of the last refresh, if it failed (cleared by a success).
    pub last_error: Option<String>,
}

/// Why a refresh did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    /// Dry-run: there is no client, so nothing to load from.
    #[error("the directory has no Aircall client (dry-run): nothing to load")]
    Offline,
    #[error(transparent)]
    Api(#[from] ApiError),
}

/// Users, teams and tags in memory, shared by the webhook handler, the
/// dispatcher and the presence book.
pub struct Directory {
    client: Option<AircallClient>,
    snapshot: ArcSwap<Snapshot>,
    last_error: Mutex<Option<String>>,
    /// Serialises refreshes so two never interleave their swaps.
    refreshing: tokio::sync::Mutex<()>,
    /// Set by webhooks that change the user list.
    wanted: Notify,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl Directory {
    /// An empty directory that loads through `client`.
    pub fn new(client: AircallClient) -> Directory {
        Directory::with_client(Some(client))
    }

    /// An empty directory with no client (dry-run): it only learns from
    /// webhooks, and reports itself as not loaded.
    pub fn offline() -> Directory {
        Directory::with_client(None)
    }

    /// A loaded directory from known entries (tests, `explain`).
    pub fn from_entries(
        users: impl IntoIterator<Item = (String, u64)>,
        teams: impl IntoIterator<Item = (String, u64)>,
        tags: impl IntoIterator<Item = (String, u64)>,
    ) -> Directory {
        let users: Vec<ApiUser> = users
            .into_iter()
            .map(|(email, id)| ApiUser {
                id,
                email: Some(email),
                name: None,
                available: None,
                availability_status: None,
            })
            .collect();
        let teams: Vec<ApiTeam> = teams
            .into_iter()
            .map(|(name, id)| ApiTeam { id, name })
            .collect();
        let tags: Vec<ApiTag> = tags
            .into_iter()
            .map(|(name, id)| ApiTag { id, name })
            .collect();
        let directory = Directory::offline();
        directory.snapshot.store(Arc::new(Snapshot::build(
            &users,
            &teams,
            &tags,
            Some(Utc::now()),
        )));
        directory
    }

    fn with_client(client: Option<AircallClient>) -> Directory {
        Directory {
            client,
            snapshot: ArcSwap::from_pointee(Snapshot::default()),
            last_error: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            wanted: Notify::new(),
        }
    }

    /// Loads users, teams and tags (every page) and swaps them in at once.
    /// On failure the previous snapshot stays and the error is recorded.
    pub async fn refresh(&self) -> Result<DirectoryStatus, RefreshError> {
        let client = self.client.as_ref().ok_or(RefreshError::Offline)?;
        let _one_at_a_time = self.refreshing.lock().await;
        let loaded = async {
            let users = client.list_users().await?;
            let teams = client.list_teams().await?;
            let tags = client.list_tags().await?;
            Ok::<_, ApiError>((users, teams, tags))
        }
        .await;
        match loaded {
            Ok((users, teams, tags)) => {
                self.snapshot.store(Arc::new(Snapshot::build(
                    &users,
                    &teams,
                    &tags,
                    Some(Utc::now()),
                )));
                *self.lock_error() = None;
                Ok(self.status())
            }
            Err(error) => {
                *self.lock_error() = Some(error.to_string());
                Err(error.into())
            }
        }
    }

    /// Asks the background refresher (if running) for a refresh soon.
    pub fn request_refresh(&self) {
        self.wanted.notify_one();
    }

    /// Refreshes every `interval`, and on request no sooner than
    /// `min_gap` after the previous refresh (bursts of `user.created`
    /// cost one refresh). Runs until the handle is aborted.
    pub fn spawn_refresher(
        self: &Arc<Self>,
        interval: Duration,
        min_gap: Duration,
    ) -> JoinHandle<()> {
        let directory = Arc::clone(self);
        tokio::spawn(async move {
            let mut last = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    () = tokio::time::sleep_until(last + interval) => {}
                    () = directory.wanted.notified() => {
                        tokio::time::sleep_until(last + min_gap).await;
                    }
                }
                // The error is also kept in the status; the next round
                // tries again, and the previous snapshot serves meanwhile.
                match directory.refresh().await {
                    Ok(status) => tracing::debug!(
                        users = status.users,
                        teams = status.teams,
                        tags = status.tags,
                        "Aircall directory refreshed"
                    ),
                    Err(error) => tracing::warn!(
                        %error,
                        "Aircall directory refresh failed; keeping the previous one"
                    ),
                }
                last = tokio::time::Instant::now();
            }
        })
    }

    /// Learns from `user.created` / `user.deleted` (and their `.v2`
    /// forms) at once, and asks for a refresh to confirm. Returns whether
    /// the event concerned the directory.
    pub fn apply(&self, envelope: &Envelope) -> bool {
        let event = envelope
            .event
            .strip_suffix(".v2")
            .unwrap_or(&envelope.event);
        let created = match event {
            "user.created" => true,
            "user.deleted" => false,
            _ => return false,
        };
        let Ok(user) = envelope.user_data() else {
            return false;
        };
        self.snapshot.rcu(|current| {
            let mut next = Snapshot::clone(current);
            match (&user.email, created) {
                (Some(email), true) => next.insert_user(user.id, email),
                (_, true) => {}
                (_, false) => next.remove_user(user.id),
            }
            next
        });
        self.request_refresh();
        true
    }

    /// Size, age and load state.
    pub fn status(&self) -> DirectoryStatus {
        let snapshot = self.snapshot.load();
        DirectoryStatus {
            loaded: snapshot.loaded_at.is_some(),
            users: snapshot.emails_by_id.len(),
            teams: snapshot.teams_by_name.len(),
            tags: snapshot.tags_by_name.len(),
            loaded_at: snapshot.loaded_at,
            age_seconds: snapshot
                .loaded_at
                .map(|at| (Utc::now() - at).num_seconds().max(0)),
            last_error: self.lock_error().clone(),
        }
    }

    /// Whether a complete load has succeeded.
    pub fn is_loaded(&self) -> bool {
        self.snapshot.load().loaded_at.is_some()
    }

    /// Whether this directory can load from Aircall (false in dry-run).
    pub fn is_online(&self) -> bool {
        self.client.is_some()
    }

    /// The id of the user with this e-mail (case-insensitive).
    pub fn user_id(&self, email: &str) -> Option<u64> {
        self.snapshot
            .load()
            .users_by_email
            .get(&email.trim().to_lowercase())
            .copied()
    }

    /// The e-mail of a user, as Aircall spells it.
    pub fn user_email(&self, id: u64) -> Option<String> {
        self.snapshot.load().emails_by_id.get(&id).cloned()
    }

    /// The id of the team with this name: exact first, then ignoring case
    /// when that is unambiguous.
    pub fn team_id(&self, name: &str) -> Option<u64> {
        let snapshot = self.snapshot.load();
        snapshot.teams_by_name.get(name).copied().or_else(|| {
            snapshot
                .teams_by_folded_name
                .get(&name.trim().to_lowercase())
                .copied()
                .flatten()
        })
    }

    /// The id of the tag with this name (case-insensitive).
    pub fn tag_id(&self, name: &str) -> Option<u64> {
        self.snapshot
            .load()
            .tags_by_name
            .get(&name.trim().to_lowercase())
            .copied()
    }

    /// Turns a rule's target into Aircall ids. Ids and numbers pass
    /// through unchanged (the API is the judge of those); e-mails and team
    /// names are looked up, with the reason when they are not found.
    pub fn resolve(&self, target: &Target) -> Result<TransferTarget, Unresolved> {
        let unresolved = |reason: String| Unresolved {
            target: target.to_string(),
            reason,
        };
        match target {
            Target::Number(e164) => Ok(TransferTarget::Number { e164: e164.clone() }),
            Target::User(UserTarget::Id(id)) => Ok(TransferTarget::User { id: *id }),
            Target::User(UserTarget::Email(email)) => match self.user_id(email) {
                Some(id) => Ok(TransferTarget::User { id }),
                None if !self.is_loaded() => Err(unresolved(self.not_loaded_reason())),
                None => Err(unresolved("no Aircall user has this e-mail".to_owned())),
            },
            Target::Team {
                team: TeamTarget::Id(id),
                ringing,
            } => Ok(TransferTarget::Team {
                id: *id,
                ringing: *ringing,
            }),
            Target::Team {
                team: TeamTarget::Name(name),
                ringing,
            } => match self.team_id(name) {
                Some(id) => Ok(TransferTarget::Team {
                    id,
                    ringing: *ringing,
                }),
                None if !self.is_loaded() => Err(unresolved(self.not_loaded_reason())),
                None => Err(unresolved("no Aircall team has this name".to_owned())),
            },
        }
    }

    fn not_loaded_reason(&self) -> String {
        if self.client.is_none() {
            "the Aircall directory is not available in dry-run".to_owned()
        } else {
            match self.lock_error().as_deref() {
                Some(error) => format!("the Aircall directory is not loaded ({error})"),
                None => "the Aircall directory is not loaded yet".to_owned(),
            }
        }
    }

    fn lock_error(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        // Only ever holds a finished String: a poisoned lock is still sound.
        self.last_error
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use crate::lang::ast::Ringing;

    fn directory() -> Directory {
        Directory::from_entries(
            [
                ("Alice@Example.com".to_owned(), 11),
                ("bob@example.com".to_owned(), 12),
            ],
            [("Sales".to_owned(), 21), ("Soporte".to_owned(), 22)],
            [("VIP".to_owned(), 31)],
        )
    }

    #[test]
    fn resolves_emails_and_team_names_to_ids() {
        let directory = directory();
        let alice = Target::User(UserTarget::Email("alice@example.COM".to_owned()));
        assert_eq!(
            directory.resolve(&alice).unwrap(),
            TransferTarget::User { id: 11 }
        );
        let sales = Target::Team {
            team: TeamTarget::Name("sales".to_owned()),
            ringing: Some(Ringing::LongestIdle),
        };
        assert_eq!(
            directory.resolve(&sales).unwrap(),
            TransferTarget::Team {
                id: 21,
                ringing: Some(Ringing::LongestIdle)
            }
        );
        assert_eq!(directory.tag_id("vip"), Some(31));
        assert_eq!(
            directory.user_email(11).as_deref(),
            Some("Alice@Example.com")
        );
    }

    #[test]
    fn ids_and_numbers_pass_through() {
        let directory = Directory::offline();
        let user = Target::User(UserTarget::Id(99));
        assert_eq!(
            directory.resolve(&user).unwrap(),
            TransferTarget::User { id: 99 }
        );
        let number = Target::Number("+18001234567".to_owned());
        assert_eq!(
            directory.resolve(&number).unwrap(),
            TransferTarget::Number {
                e164: "+18001234567".to_owned()
            }
        );
    }

    #[test]
    fn unknown_names_say_why() {
        let directory = directory();
        let carol = Target::User(UserTarget::Email("carol@example.com".to_owned()));
        let err = directory.resolve(&carol).unwrap_err();
        assert_eq!(err.target, "agent carol@example.com");
        assert_eq!(err.reason, "no Aircall user has this e-mail");
        let err = Directory::offline().resolve(&carol).unwrap_err();
        assert!(err.reason.contains("dry-run"), "{err}");
        let team = Target::Team {
            team: TeamTarget::Name("Nope".to_owned()),
            ringing: None,
        };
        assert_eq!(
            directory.resolve(&team).unwrap_err().reason,
            "no Aircall team has this name"
        );
    }

    #[test]
    fn teams_differing_only_by_case_need_the_exact_name() {
        let directory =
            Directory::from_entries([], [("Sales".to_owned(), 1), ("SALES".to_owned(), 2)], []);
        assert_eq!(directory.team_id("SALES"), Some(2));
        assert_eq!(directory.team_id("sales"), None);
    }

    #[test]
    fn user_webhooks_update_the_directory() {
        let directory = directory();
        let created = Envelope::from_slice(
            br#"{"resource":"user","event":"user.created.v2","timestamp":1,"token":"t",
                "data":{"id":13,"email":"carol@example.com"}}"#,
        )
        .unwrap();
        assert!(directory.apply(&created));
        assert_eq!(directory.user_id("carol@example.com"), Some(13));
        let deleted = Envelope::from_slice(
            br#"{"resource":"user","event":"user.deleted","timestamp":2,"token":"t",
                "data":{"id":11}}"#,
        )
        .unwrap();
        assert!(directory.apply(&deleted));
        assert_eq!(directory.user_id("alice@example.com"), None);
        assert_eq!(directory.status().users, 2);
        let other = Envelope::from_slice(br#"{"event":"call.created","data":{"id":1}}"#).unwrap();
        assert!(!directory.apply(&other));
    }

    #[tokio::test]
    async fn offline_refresh_is_refused() {
        let directory = Directory::offline();
        assert_eq!(
            directory.refresh().await.unwrap_err(),
            RefreshError::Offline
        );
        assert!(!directory.status().loaded);
    }
}
