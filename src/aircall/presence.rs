//! Who can take a call right now, as far as webhooks and the occasional
//! availability poll tell us.
//!
//! [`PresenceBook`] implements [`AvailabilityView`] for the evaluator
//! (`X is available`) and for the dispatcher (skipping unavailable
//! fallbacks). It keeps three independent facts per user, each with the
//! timestamp of the event that set it:
//! - *open*: `user.opened` / `user.closed` (working hours, availability toggle);
//! - *connected*: `user.connected` / `user.disconnected` (the app is open);
//! - *activity*: idle, in a call (`call.answered`) or wrapping up
//!   (`user.wut_start`); `call.hungup` / `call.ended` / `user.wut_end` make
//!   the agent idle again, which counts only if they are also open and
//!   connected.
//!
//! Webhooks arrive late, twice and out of order, so an event older than
//! the fact it would change is ignored, and the end of a call only frees
//! the agent from *that* call (`call.ended` comes ~30 s after hang-up,
//! possibly after the agent answered the next one). `GET
//! /v1/users/availabilities`, polled within the budget, sets all three
//! facts at the poll's time.
//!
//! What it must not do: call the API while answering a presence question
//! (that is on the webhook path), or claim availability it was not told
//! about (no information is [`Presence::Unknown`]).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;

use super::client::{AircallClient, ApiError, Availability};
use super::directory::Directory;
use super::webhook::{unix_seconds, Envelope};
use crate::lang::{AvailabilityView, Presence, UserRef};

/// What an agent is doing, as far as we know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Activity {
    Idle,
    /// In this call (`None` when the availability poll said `in_call`).
    InCall(Option<i64>),
    WrapUp,
}

/// A fact and the instant of the event that established it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamped<T> {
    value: T,
    at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct UserState {
    open: Option<Stamped<bool>>,
    connected: Option<Stamped<bool>>,
    activity: Option<Stamped<Activity>>,
    /// The last call this agent was seen finishing: a late `call.answered`
    /// for it must not put them back in the call.
    finished_call: Option<i64>,
}

impl UserState {
    fn presence(&self) -> Presence {
        let closed = self.open.is_some_and(|open| !open.value);
        let offline = self.connected.is_some_and(|connected| !connected.value);
        let busy = self
            .activity
            .is_some_and(|activity| activity.value != Activity::Idle);
        if closed || offline || busy {
            Presence::Unavailable
        } else if self.open.is_some() || self.connected.is_some() || self.activity.is_some() {
            Presence::Available
        } else {
            Presence::Unknown
        }
    }
}

/// Sets `slot` to `value` unless the slot holds something newer. Equal
/// instants apply (timestamps are whole seconds; the later arrival wins).
fn set<T>(slot: &mut Option<Stamped<T>>, value: T, at: DateTime<Utc>) -> bool {
    if slot.as_ref().is_some_and(|current| current.at > at) {
        return false;
    }
    *slot = Some(Stamped { value, at });
    true
}

/// What [`PresenceBook::apply`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceUpdate {
    /// The user's state changed (or was confirmed).
    Applied { user: u64 },
    /// The event was older than what we know, or about another call.
    Stale { user: u64 },
    /// The event says nothing about availability.
    NotRelevant,
}

/// The live availability of every agent we have heard about.
pub struct PresenceBook {
    directory: Arc<Directory>,
    users: RwLock<HashMap<u64, UserState>>,
}

impl std::fmt::Debug for PresenceBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresenceBook")
            .field("users", &self.len())
            .finish_non_exhaustive()
    }
}

impl PresenceBook {
    /// An empty book; e-mails are resolved to ids through `directory`.
    pub fn new(directory: Arc<Directory>) -> PresenceBook {
        PresenceBook {
            directory,
            users: RwLock::new(HashMap::new()),
        }
    }

    /// Learns from a webhook, dated by its envelope `timestamp` (or now,
    /// when it has none).
    pub fn apply(&self, envelope: &Envelope) -> PresenceUpdate {
        self.apply_at(envelope, Utc::now())
    }

    /// [`PresenceBook::apply`] with the receive time given (tests, replay).
    pub fn apply_at(&self, envelope: &Envelope, received_at: DateTime<Utc>) -> PresenceUpdate {
        let at = envelope
            .timestamp
            .and_then(unix_seconds)
            .unwrap_or(received_at);
        let event = envelope
            .event
            .strip_suffix(".v2")
            .unwrap_or(&envelope.event);
        match envelope.family() {
            "user" => {
                let Ok(user) = envelope.user_data() else {
                    return PresenceUpdate::NotRelevant;
                };
                let change: fn(&mut UserState, DateTime<Utc>) -> bool = match event {
                    "user.opened" => |state, at| set(&mut state.open, true, at),
                    "user.closed" => |state, at| set(&mut state.open, false, at),
                    "user.connected" => |state, at| set(&mut state.connected, true, at),
                    "user.disconnected" => |state, at| set(&mut state.connected, false, at),
                    "user.wut_start" => |state, at| set(&mut state.activity, Activity::WrapUp, at),
                    "user.wut_end" => |state, at| {
                        // Ends wrap-up only: a newer call keeps the agent busy.
                        match state.activity {
                            Some(Stamped {
                                value: Activity::WrapUp,
                                ..
                            })
                            | None => set(&mut state.activity, Activity::Idle, at),
                            Some(_) => false,
                        }
                    },
                    "user.deleted" => {
                        self.write().remove(&user.id);
                        return PresenceUpdate::Applied { user: user.id };
                    }
                    _ => return PresenceUpdate::NotRelevant,
                };
                self.update(user.id, |state| change(state, at))
            }
            "call" => {
                let Ok(call) = envelope.call_data() else {
                    return PresenceUpdate::NotRelevant;
                };
                let Some(user) = call.user.as_ref().map(|user| user.id) else {
                    return PresenceUpdate::NotRelevant;
                };
                match event {
                    "call.answered" => self.update(user, |state| {
                        state.finished_call != Some(call.id)
                            && set(&mut state.activity, Activity::InCall(Some(call.id)), at)
                    }),
                    "call.hungup" | "call.ended" => self.update(user, |state| {
                        state.finished_call = Some(call.id);
                        // Frees the agent from this call (or from an
                        // unnamed one the poll reported), never from another.
                        match state.activity {
                            Some(Stamped {
                                value: Activity::InCall(current),
                                ..
                            }) if current.is_none_or(|current| current == call.id) => {
                                set(&mut state.activity, Activity::Idle, at)
                            }
                            None => set(&mut state.activity, Activity::Idle, at),
                            Some(_) => false,
                        }
                    }),
                    _ => PresenceUpdate::NotRelevant,
                }
            }
            _ => PresenceUpdate::NotRelevant,
        }
    }

    /// Records what the availability endpoint said about a user at `at`.
    /// Returns whether anything changed (false when webhooks were newer).
    pub fn record_availability(
        &self,
        user: u64,
        availability: &Availability,
        at: DateTime<Utc>,
    ) -> bool {
        let update = self.update(user, |state| match availability {
            Availability::Available => {
                let open = set(&mut state.open, true, at);
                let connected = set(&mut state.connected, true, at);
                let idle = set(&mut state.activity, Activity::Idle, at);
                open || connected || idle
            }
            Availability::Offline => set(&mut state.connected, false, at),
            Availability::DoNotDisturb => set(&mut state.open, false, at),
            Availability::InCall => {
                let connected = set(&mut state.connected, true, at);
                set(&mut state.activity, Activity::InCall(None), at) || connected
            }
            Availability::AfterCallWork => {
                let connected = set(&mut state.connected, true, at);
                set(&mut state.activity, Activity::WrapUp, at) || connected
            }
            Availability::Other(_) => false,
        });
        matches!(update, PresenceUpdate::Applied { .. })
    }

    /// Polls `GET /v1/users/availabilities` (every page, background
    /// priority) and records the answers, dated by the start of the poll
    /// so any webhook newer than the poll wins. Returns the rows applied.
    pub async fn refresh(&self, client: &AircallClient) -> Result<usize, ApiError> {
        let at = Utc::now();
        let rows = client.user_availabilities().await?;
        let applied = rows
            .iter()
            .filter(|row| self.record_availability(row.id, &row.availability, at))
            .count();
        Ok(applied)
    }

    /// Polls every `interval` until the handle is aborted. Failures are
    /// skipped (the webhooks keep the book current meanwhile).
    pub fn spawn_refresher(
        self: &Arc<Self>,
        client: AircallClient,
        interval: Duration,
    ) -> JoinHandle<()> {
        let book = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match book.refresh(&client).await {
                    Ok(applied) => tracing::debug!(applied, "availabilities polled"),
                    Err(error) => tracing::warn!(
                        %error,
                        "availability poll failed; webhooks keep the book current"
                    ),
                }
            }
        })
    }

    /// The presence of a user by id.
    pub fn presence_of(&self, user: u64) -> Presence {
        self.read()
            .get(&user)
            .map_or(Presence::Unknown, UserState::presence)
    }

    /// How many users the book knows something about.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the book knows nothing yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn update(&self, user: u64, change: impl FnOnce(&mut UserState) -> bool) -> PresenceUpdate {
        let mut users = self.write();
        let state = users.entry(user).or_default();
        if change(state) {
            PresenceUpdate::Applied { user }
        } else {
            PresenceUpdate::Stale { user }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<u64, UserState>> {
        // Every write leaves each user's state whole: poisoning is harmless.
        self.users
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<u64, UserState>> {
        self.users
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl AvailabilityView for PresenceBook {
    fn presence(&self, user: &UserRef) -> Presence {
        match user {
            UserRef::Id(id) => self.presence_of(*id),
            UserRef::Email(email) => self
                .directory
                .user_id(email)
                .map_or(Presence::Unknown, |id| self.presence_of(id)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn book() -> PresenceBook {
        let directory = Directory::from_entries([("alice@example.com".to_owned(), 7)], [], []);
        PresenceBook::new(Arc::new(directory))
    }

    fn user_event(event: &str, timestamp: i64) -> Envelope {
        let body = format!(
            r#"{{"resource":"user","event":"{event}","timestamp":{timestamp},"token":"t",
                "data":{{"id":7,"email":"alice@example.com"}}}}"#
        );
        Envelope::from_slice(body.as_bytes()).unwrap()
    }

    fn call_event(event: &str, timestamp: i64, call: i64) -> Envelope {
        let body = format!(
            r#"{{"resource":"call","event":"{event}","timestamp":{timestamp},"token":"t",
                "data":{{"id":{call},"direction":"inbound","user":{{"id":7}}}}}}"#
        );
        Envelope::from_slice(body.as_bytes()).unwrap()
    }

    fn alice(book: &PresenceBook) -> Presence {
        book.presence(&UserRef::Email("Alice@example.com".to_owned()))
    }

    #[test]
    fn nothing_known_is_unknown() {
        let book = book();
        assert_eq!(alice(&book), Presence::Unknown);
        assert_eq!(
            book.presence(&UserRef::Email("nobody@example.com".to_owned())),
            Presence::Unknown
        );
    }

    #[test]
    fn opened_closed_and_v2_events() {
        let book = book();
        book.apply(&user_event("user.opened", 100));
        assert_eq!(alice(&book), Presence::Available);
        book.apply(&user_event("user.closed.v2", 101));
        assert_eq!(alice(&book), Presence::Unavailable);
    }

    #[test]
    fn an_older_event_does_not_undo_a_newer_one() {
        let book = book();
        book.apply(&user_event("user.closed", 200));
        let late = book.apply(&user_event("user.opened", 150));
        assert_eq!(late, PresenceUpdate::Stale { user: 7 });
        assert_eq!(alice(&book), Presence::Unavailable);
    }

    #[test]
    fn a_call_makes_the_agent_busy_until_it_ends() {
        let book = book();
        book.apply(&user_event("user.opened", 100));
        book.apply(&call_event("call.answered", 110, 1));
        assert_eq!(alice(&book), Presence::Unavailable);
        book.apply(&call_event("call.hungup", 120, 1));
        assert_eq!(alice(&book), Presence::Available);
    }

    #[test]
    fn hangup_before_answer_in_the_same_second_stays_hung_up() {
        let book = book();
        book.apply(&user_event("user.opened", 100));
        book.apply(&call_event("call.hungup", 110, 1));
        book.apply(&call_event("call.answered", 110, 1));
        assert_eq!(alice(&book), Presence::Available);
    }

    #[test]
    fn late_call_ended_does_not_free_the_agent_from_the_next_call() {
        let book = book();
        book.apply(&user_event("user.opened", 100));
        book.apply(&call_event("call.answered", 110, 1));
        book.apply(&call_event("call.hungup", 120, 1));
        book.apply(&call_event("call.answered", 125, 2));
        // call.ended of call 1 comes ~30 s after its hang-up.
        assert_eq!(
            book.apply(&call_event("call.ended", 150, 1)),
            PresenceUpdate::Stale { user: 7 }
        );
        assert_eq!(alice(&book), Presence::Unavailable);
    }

    #[test]
    fn wrap_up_and_closed_keep_the_agent_unavailable_after_a_call() {
        let book = book();
        book.apply(&user_event("user.opened", 100));
        book.apply(&call_event("call.answered", 110, 1));
        // wut_start may arrive before call.hungup.
        book.apply(&user_event("user.wut_start", 120));
        book.apply(&call_event("call.hungup", 120, 1));
        assert_eq!(alice(&book), Presence::Unavailable);
        book.apply(&user_event("user.wut_end", 150));
        assert_eq!(alice(&book), Presence::Available);
        book.apply(&user_event("user.disconnected", 160));
        book.apply(&call_event("call.ended", 170, 1));
        assert_eq!(alice(&book), Presence::Unavailable);
    }

    #[test]
    fn the_poll_is_overridden_by_newer_webhooks_only() {
        let book = book();
        let poll = unix_seconds(200).unwrap();
        book.apply(&user_event("user.closed", 210));
        assert!(book.record_availability(7, &Availability::Available, poll));
        // Connected and idle were set by the poll, but "closed" is newer.
        assert_eq!(alice(&book), Presence::Unavailable);
        book.apply(&user_event("user.opened", 220));
        assert_eq!(alice(&book), Presence::Available);
        assert!(book.record_availability(7, &Availability::InCall, unix_seconds(230).unwrap()));
        assert_eq!(alice(&book), Presence::Unavailable);
        // Any hang-up of hers ends a call the poll could not name.
        book.apply(&call_event("call.hungup", 240, 9));
        assert_eq!(alice(&book), Presence::Available);
    }

    #[test]
    fn unrelated_events_are_not_relevant() {
        let book = book();
        assert_eq!(
            book.apply(&call_event("call.created", 1, 1)),
            PresenceUpdate::NotRelevant
        );
        let number = Envelope::from_slice(br#"{"event":"number.closed","data":{"id":1}}"#).unwrap();
        assert_eq!(book.apply(&number), PresenceUpdate::NotRelevant);
        assert!(book.is_empty());
    }
}
