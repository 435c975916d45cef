//! Which callers may have a call history, kept in memory so that
//! `last_agent` skips the database for a caller who surely has none.
//!
//! With `rules/main.rules` every `call.created` asks for the caller's last
//! agent, and on a SQLite store that read was 9% of the server's CPU per
//! webhook (a read transaction, its locks, a cold page cache); for a
//! first-time caller it finds nothing. A Bloom filter of the callers in
//! `call_history` answers "surely not" without the read: it has false
//! positives (then the read is made, as before), never false negatives.
//!
//! That holds only while every history row passes through this process
//! before it is committed: the filter is loaded from the table at start,
//! and [`CallersWithHistory::note`] is called before a row is handed to
//! the writer. So it is used for SQLite, whose file one `serve` writes,
//! and not for PostgreSQL, where other replicas write history too. Pruned
//! rows stay in the filter (a read that finds nothing, as before); past
//! the expected count of callers it fills up, and more reads are made.

use fastbloom::AtomicBloomFilter;

/// A read that wrongly finds "maybe" costs what every read cost before.
const FALSE_POSITIVE_RATE: f64 = 0.01;

/// Fixed, so that which callers are false positives does not change from
/// run to run (a false positive costs only a read, whoever finds one).
const SEED: u128 = 0x5357_4954_4348_424f_4152_445f_4849_5354;

/// Room for this many callers at least (about 120 KiB at 1%), and for
/// four times those already in the table.
const MIN_EXPECTED_CALLERS: usize = 100_000;
const GROWTH: usize = 4;

/// A filter over the callers (E.164) that have an answered call on record.
#[derive(Debug)]
pub(crate) struct CallersWithHistory {
    filter: AtomicBloomFilter,
}

impl CallersWithHistory {
    /// Sized for `known` callers and those to come; empty.
    fn with_room_for(known: usize) -> CallersWithHistory {
        let expected = known.saturating_mul(GROWTH).max(MIN_EXPECTED_CALLERS);
        CallersWithHistory {
            filter: AtomicBloomFilter::with_false_pos(FALSE_POSITIVE_RATE)
                .seed(&SEED)
                .expected_items(expected),
        }
    }

    /// Every caller in `call_history`, read through `conn`.
    pub(crate) fn load(conn: &rusqlite::Connection) -> rusqlite::Result<CallersWithHistory> {
        let known: i64 = conn.query_row(
            "SELECT count(DISTINCT caller) FROM call_history",
            [],
            |row| row.get(0),
        )?;
        let callers = CallersWithHistory::with_room_for(usize::try_from(known).unwrap_or(0));
        let mut statement = conn.prepare("SELECT DISTINCT caller FROM call_history")?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            callers.note(row.get_ref(0)?.as_str()?);
        }
        Ok(callers)
    }

    /// Records that `caller` has (or is about to have) a history row. Call
    /// it before the row can be committed.
    pub(crate) fn note(&self, caller: &str) {
        self.filter.insert(caller);
    }

    /// False when `caller` surely has no history row.
    pub(crate) fn may_have_history(&self, caller: &str) -> bool {
        self.filter.contains(caller)
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn noted_callers_are_always_found_and_others_rarely() {
        let callers = CallersWithHistory::with_room_for(0);
        for n in 0..10_000 {
            callers.note(&format!("+3361234{n:04}"));
        }
        assert!((0..10_000).all(|n| callers.may_have_history(&format!("+3361234{n:04}"))));
        let false_positives = (0..10_000)
            .filter(|n| callers.may_have_history(&format!("+3470000{n:04}")))
            .count();
        assert!(false_positives < 100, "{false_positives} false positives");
    }

    #[test]
    fn loads_every_caller_of_the_table() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE call_history (call_id INTEGER PRIMARY KEY, caller TEXT NOT NULL);
             INSERT INTO call_history VALUES (1, '+33611111111'), (2, '+33622222222'),
                                             (3, '+33611111111');",
        )
        .unwrap();
        let callers = CallersWithHistory::load(&conn).unwrap();
        assert!(callers.may_have_history("+33611111111"));
        assert!(callers.may_have_history("+33622222222"));
        assert!(!callers.may_have_history("+33633333333"));
    }
}
