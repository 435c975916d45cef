//! A set of ids remembered for a time window, bounded in size: how the
//! webhook handler and the dispatcher each tell a redelivered call from a
//! new one.
//!
//! Ids are kept in generations, each one a plain `HashSet<i64>` that
//! covers a slice of the window. Expiry and eviction drop a whole
//! generation at once, and its set is emptied and reused for the next,
//! so memory does not churn under load. Nine bytes an id, where a map of
//! id to insertion time plus a queue in insertion order took about fifty:
//! at 25,000 calls a second the two sets of 100,000 ids were 13 MB of the
//! server's 55 MB (README, "The service under load").
//!
//! The price is precision: an id is remembered for at least the window
//! and at most a slice (an eighth of it) longer, and when the set is
//! full the oldest slice is forgotten at once rather than one id.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

/// Slices per window. More is more precise but makes lookups probe more
/// sets.
const SLICES: u32 = 8;

/// Call ids seen recently. Not synchronised: callers hold it under their
/// own lock.
#[derive(Debug)]
pub struct RecentIds {
    window: Duration,
    slice: Duration,
    /// Generations kept at most: one per slice of the window and the one
    /// being filled (fewer for a capacity under that).
    max_generations: usize,
    /// Ids per generation before a new one is opened, so that the size
    /// bound holds under a flood.
    per_generation: usize,
    /// Oldest first; never empty once an id was inserted.
    generations: VecDeque<Generation>,
    /// The set of the last expired generation, emptied, for the next.
    spare: Option<HashSet<i64>>,
}

#[derive(Debug)]
struct Generation {
    opened: Instant,
    ids: HashSet<i64>,
}

impl RecentIds {
    /// Remembers ids for at least `window` (up to an eighth longer), at
    /// most `capacity` of them (rounded up to a multiple of nine).
    pub fn new(window: Duration, capacity: usize) -> RecentIds {
        let max_generations = (SLICES as usize + 1).min(capacity.max(1));
        RecentIds {
            window,
            slice: (window / SLICES).max(Duration::from_millis(1)),
            max_generations,
            per_generation: capacity.div_ceil(max_generations).max(1),
            generations: VecDeque::with_capacity(SLICES as usize + 2),
            spare: None,
        }
    }

    /// Records `id` at `now`; true if it was not already known.
    pub fn insert(&mut self, id: i64, now: Instant) -> bool {
        self.expire(now);
        if self.contains(id) {
            return false;
        }
        let fits_the_newest = self.generations.back().is_some_and(|last| {
            now.saturating_duration_since(last.opened) < self.slice
                && last.ids.len() < self.per_generation
        });
        if !fits_the_newest {
            self.open_generation(now);
        }
        if let Some(newest) = self.generations.back_mut() {
            newest.ids.insert(id);
        }
        true
    }

    /// Whether `id` is remembered (call [`RecentIds::expire`] first for an
    /// answer as of now).
    pub fn contains(&self, id: i64) -> bool {
        // Newest first: a redelivery usually follows closely.
        self.generations
            .iter()
            .rev()
            .any(|generation| generation.ids.contains(&id))
    }

    /// Forgets `id`, so that it counts as new again.
    pub fn remove(&mut self, id: i64) {
        for generation in &mut self.generations {
            if generation.ids.remove(&id) {
                return;
            }
        }
    }

    /// Forgets the generations whose every id is older than the window.
    pub fn expire(&mut self, now: Instant) {
        while let Some(oldest) = self.generations.front() {
            // Its newest id came in before `opened + slice`.
            let newest_possible = oldest.opened + self.slice;
            if now.saturating_duration_since(newest_possible) < self.window {
                break;
            }
            let expired = self.generations.pop_front().map(|oldest| oldest.ids);
            if self.spare.is_none() {
                self.spare = expired;
            }
        }
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.generations
            .iter()
            .map(|generation| generation.ids.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Opens a new generation, forgetting the oldest when there are too
    /// many to keep the size bound.
    fn open_generation(&mut self, now: Instant) {
        let evicted = if self.generations.len() >= self.max_generations {
            self.generations.pop_front().map(|oldest| oldest.ids)
        } else {
            None
        };
        let mut ids = evicted.or_else(|| self.spare.take()).unwrap_or_default();
        ids.clear();
        self.generations.push_back(Generation { opened: now, ids });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_second_insert_is_a_duplicate_until_removed() {
        let mut recent = RecentIds::new(60 * SECOND, 1000);
        let now = Instant::now();
        assert!(recent.insert(42, now));
        assert!(!recent.insert(42, now));
        assert!(recent.insert(43, now));
        recent.remove(42);
        assert!(recent.insert(42, now));
        assert!(!recent.insert(42, now));
        assert_eq!(recent.len(), 2);
    }

    #[test]
    fn ids_live_at_least_the_window_and_at_most_a_slice_more() {
        let mut recent = RecentIds::new(80 * SECOND, 1000);
        let start = Instant::now();
        // Inserted at the end of its generation's slice (10 s).
        assert!(recent.insert(1, start));
        assert!(recent.insert(2, start + 9 * SECOND));
        for probe in [9, 40, 79, 88] {
            recent.expire(start + probe * SECOND);
            assert!(recent.contains(2), "forgotten at +{probe} s");
        }
        recent.expire(start + 90 * SECOND);
        assert!(!recent.contains(1) && !recent.contains(2));
        assert!(recent.is_empty());
        // The emptied set serves the next generation.
        assert!(recent.insert(2, start + 90 * SECOND));
        assert!(!recent.insert(2, start + 91 * SECOND));
    }

    #[test]
    fn generations_follow_the_clock() {
        let mut recent = RecentIds::new(80 * SECOND, 1000);
        let start = Instant::now();
        for second in 0..200 {
            recent.insert(second, start + Duration::from_secs(second.unsigned_abs()));
        }
        // At +199 s, ids from +110 s on are within the window; a few older
        // ones may remain (their slice is not over).
        assert!((110..200).all(|id| recent.contains(id)));
        assert!((0..100).all(|id| !recent.contains(id)));
        assert!(recent.generations.len() <= recent.max_generations);
    }

    #[test]
    fn size_is_bounded_and_the_newest_are_kept() {
        let mut recent = RecentIds::new(3600 * SECOND, 180);
        let now = Instant::now();
        for id in 0..10_000 {
            assert!(recent.insert(id, now));
        }
        assert_eq!(recent.len(), 180);
        assert!((9_820..10_000).all(|id| recent.contains(id)));
        assert!(!recent.contains(9_819));
        // A capacity under nine is exact too.
        let mut small = RecentIds::new(3600 * SECOND, 3);
        for id in 1..=5 {
            small.insert(id, now);
        }
        assert_eq!(small.len(), 3);
        assert!(!small.contains(2) && (3..=5).all(|id| small.contains(id)));
    }

    #[test]
    fn a_removed_then_reinserted_id_lives_from_its_new_insertion() {
        let mut recent = RecentIds::new(80 * SECOND, 1000);
        let start = Instant::now();
        assert!(recent.insert(5, start));
        recent.remove(5);
        assert!(recent.insert(5, start + 40 * SECOND));
        recent.expire(start + 100 * SECOND);
        assert!(recent.contains(5));
    }
}
