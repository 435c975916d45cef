//! A bounded, time-limited cache of lookup answers, keyed by E.164.
//!
//! Both answers are kept: "this contact" and "nobody knows this caller"
//! (a repeat caller with no record should not cost a query each time).
//! Failures are never cached. Entries expire after the TTL; when a shard
//! is full its oldest entry goes first. Sharded so concurrent webhooks
//! rarely wait on the same lock. No I/O.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::lang::Contact;

const SHARDS: usize = 16;

/// A cached answer: the contact and the source that knew it, or `None`
/// for "no source knows this caller".
pub type Answer = Option<(Arc<Contact>, Arc<str>)>;

#[derive(Debug, Default)]
struct Shard {
    entries: HashMap<String, (Instant, Answer)>,
    order: VecDeque<(Instant, String)>,
}

/// The cache. With a TTL of zero it stores nothing.
#[derive(Debug)]
pub struct ContactCache {
    ttl: Duration,
    per_shard: usize,
    hasher: RandomState,
    shards: Vec<Mutex<Shard>>,
}

impl ContactCache {
    pub fn new(ttl: Duration, capacity: usize) -> ContactCache {
        ContactCache {
            ttl,
            per_shard: capacity.div_ceil(SHARDS).max(1),
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }

    fn shard(&self, key: &str) -> std::sync::MutexGuard<'_, Shard> {
        let index = (self.hasher.hash_one(key) % SHARDS as u64) as usize;
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The answer for `e164` if one is fresh.
    pub fn get(&self, e164: &str) -> Option<Answer> {
        self.get_at(e164, Instant::now())
    }

    pub fn get_at(&self, e164: &str, now: Instant) -> Option<Answer> {
        if self.ttl.is_zero() {
            return None;
        }
        let shard = self.shard(e164);
        let (at, answer) = shard.entries.get(e164)?;
        (now.saturating_duration_since(*at) < self.ttl).then(|| answer.clone())
    }

    pub fn insert(&self, e164: &str, answer: Answer) {
        self.insert_at(e164, answer, Instant::now());
    }

    pub fn insert_at(&self, e164: &str, answer: Answer, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut shard = self.shard(e164);
        // Expired entries first, then the oldest while full.
        while let Some((at, key)) = shard.order.front().cloned() {
            let expired = now.saturating_duration_since(at) >= self.ttl;
            if !expired && shard.entries.len() < self.per_shard {
                break;
            }
            shard.order.pop_front();
            if shard.entries.get(&key).is_some_and(|(when, _)| *when == at) {
                shard.entries.remove(&key);
            }
        }
        shard.entries.insert(e164.to_owned(), (now, answer));
        shard.order.push_back((now, e164.to_owned()));
    }

    /// Forgets everything (a source's data changed).
    pub fn clear(&self) {
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
            shard.entries.clear();
            shard.order.clear();
        }
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                s.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entries
                    .len()
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn contact(name: &str) -> Answer {
        let mut c = Contact::default();
        c.insert("name", crate::lang::Value::Text(name.into()));
        Some((Arc::new(c), Arc::from("test")))
    }

    #[test]
    fn answers_expire() {
        let cache = ContactCache::new(Duration::from_secs(10), 100);
        let start = Instant::now();
        cache.insert_at("+1", contact("a"), start);
        cache.insert_at("+2", None, start);
        assert!(cache
            .get_at("+1", start + Duration::from_secs(9))
            .unwrap()
            .is_some());
        assert_eq!(cache.get_at("+2", start).unwrap(), None);
        assert!(cache
            .get_at("+1", start + Duration::from_secs(10))
            .is_none());
        assert!(cache.get_at("+3", start).is_none());
    }

    #[test]
    fn size_is_bounded() {
        let cache = ContactCache::new(Duration::from_secs(3600), 160);
        let start = Instant::now();
        for n in 0..10_000 {
            cache.insert_at(&format!("+{n}"), None, start);
        }
        assert!(cache.len() <= 160, "{}", cache.len());
        assert!(cache.get_at("+9999", start).is_some());
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn zero_ttl_keeps_nothing() {
        let cache = ContactCache::new(Duration::ZERO, 10);
        cache.insert("+1", contact("a"));
        assert!(cache.get("+1").is_none());
    }
}
