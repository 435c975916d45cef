//! Remembering which calls were already decided.
//!
//! Aircall delivers at least once, and an integration attached to both the
//! parent and the child number of an IVR receives the same `call.created`
//! twice (same `data.id`). [`SeenCalls`] remembers call ids for a time
//! window, bounded in size so that a flood cannot exhaust memory: when a
//! shard is full its oldest ids are forgotten first (see [`RecentIds`]).
//! (The dispatcher also refuses a second job for a call; this set is the
//! first line, which also saves evaluating the duplicate.)
//!
//! The set is sharded by call id so that concurrent webhooks rarely wait
//! on the same lock. It knows nothing about HTTP or rules.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::recent::RecentIds;

const SHARDS: usize = 16;

/// A bounded, time-limited set of call ids.
#[derive(Debug)]
pub struct SeenCalls {
    shards: Vec<Mutex<RecentIds>>,
}

impl SeenCalls {
    /// Remembers ids for `window` (up to an eighth longer), at most about
    /// `capacity` of them.
    pub fn new(window: Duration, capacity: usize) -> SeenCalls {
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        SeenCalls {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(RecentIds::new(window, per_shard)))
                .collect(),
        }
    }

    fn shard(&self, id: i64) -> std::sync::MutexGuard<'_, RecentIds> {
        // Call ids are sequential; the low bits spread them evenly.
        let index = (id.unsigned_abs() % SHARDS as u64) as usize;
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Records `id`; true if it was not already known (the first delivery).
    pub fn insert(&self, id: i64) -> bool {
        self.insert_at(id, Instant::now())
    }

    /// [`SeenCalls::insert`] at a given time (tests).
    pub fn insert_at(&self, id: i64, now: Instant) -> bool {
        self.shard(id).insert(id, now)
    }

    /// Forgets `id`, so that a redelivery is handled as new (used when the
    /// first delivery could not be queued and was answered 503).
    pub fn remove(&self, id: i64) {
        self.shard(id).remove(id);
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_delivery_is_a_duplicate() {
        let seen = SeenCalls::new(Duration::from_secs(60), 1000);
        assert!(seen.insert(42));
        assert!(!seen.insert(42));
        assert!(seen.insert(43));
        seen.remove(42);
        assert!(seen.insert(42));
        assert!(!seen.insert(42));
    }

    #[test]
    fn ids_expire_after_the_window() {
        let seen = SeenCalls::new(Duration::from_secs(10), 1000);
        let start = Instant::now();
        assert!(seen.insert_at(7, start));
        assert!(!seen.insert_at(7, start + Duration::from_secs(10)));
        assert!(seen.insert_at(7, start + Duration::from_millis(11_250)));
    }

    #[test]
    fn size_is_bounded() {
        // 90 a shard: nine generations of ten.
        let seen = SeenCalls::new(Duration::from_secs(3600), 16 * 90);
        let start = Instant::now();
        for id in 0..10_000 {
            assert!(seen.insert_at(id, start));
        }
        // Full but for the generation being filled in each shard.
        let len = seen.len();
        assert!((16 * 80..=16 * 90).contains(&len), "{len}");
        // The most recent ids are still known.
        assert!(!seen.insert_at(9_999, start));
    }

    #[test]
    fn removed_then_reinserted_id_survives_its_old_entry() {
        let seen = SeenCalls::new(Duration::from_secs(10), 1000);
        let start = Instant::now();
        assert!(seen.insert_at(5, start));
        seen.remove(5);
        assert!(seen.insert_at(5, start + Duration::from_secs(5)));
        // The first entry is forgotten by +11.25 s; the second must hold.
        assert!(!seen.insert_at(5, start + Duration::from_secs(12)));
    }
}
