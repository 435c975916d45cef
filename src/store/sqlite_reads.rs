//! Point reads of a SQLite store on the request path.
//!
//! `last_agent` is read for every `call.created` when the rules use it.
//! Through sqlx, each read is a hand-off to the connection's own thread
//! and back: two context switches, which on two cores cost more than the
//! read itself (an indexed lookup in pages the OS has cached, a few
//! microseconds). These reads run instead on the caller's thread, on
//! connections of their own kept here, as the writer's commits do. WAL
//! mode lets them read beside the writer without waiting for it.
//!
//! A read is not free, though: under writes each one starts with a cold
//! page cache (SQLite drops a connection's cache when another changed the
//! file). So, like the writer, [`SqliteLookups`] reads inline only when no
//! read is running; lookups arriving meanwhile queue, and one task answers
//! them all with one query (the batch query of `lookup`). At 5,000
//! webhooks/s nearly every lookup is inline; at full speed they share
//! queries.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::OptionalExtension;
use tokio::sync::oneshot;

use super::lookup::{self, Lookup, NewestAnswered, LOOKUP_BATCH};
use super::writer::lock;
use super::{open_rusqlite, sql, AgentRow, StoreError};

/// `last_agent` lookups on a SQLite store: inline when no read runs,
/// batched behind it otherwise.
pub(crate) struct SqliteLookups {
    reads: SqliteReads,
    /// Set while a read (inline or a batch) runs; taken by `swap`.
    reading: AtomicBool,
    queue: Mutex<Vec<Lookup>>,
}

impl SqliteLookups {
    pub(crate) fn new(path: &Path) -> Arc<SqliteLookups> {
        Arc::new(SqliteLookups {
            reads: SqliteReads::new(path),
            reading: AtomicBool::new(false),
            queue: Mutex::new(Vec::new()),
        })
    }

    /// As [`SqliteReads::last_agent`]. Must run inside a tokio runtime (a
    /// backlog is answered by a spawned task).
    pub(crate) async fn last_agent(
        self: &Arc<Self>,
        caller: &str,
        since_ms: i64,
    ) -> Result<Option<AgentRow>, StoreError> {
        if !self.reading.swap(true, Ordering::SeqCst) {
            let row = self.reads.last_agent(caller, since_ms);
            self.done_reading();
            return row;
        }
        let (reply, answer) = oneshot::channel();
        lock(&self.queue).push(Lookup {
            caller: caller.to_owned(),
            since_ms,
            reply,
        });
        // The running read may have looked at the queue before this
        // lookup was in it: then this is the one to start the batch.
        self.answer_queued();
        answer.await.map_err(|_| StoreError::Closed)?
    }

    fn done_reading(self: &Arc<Self>) {
        self.reading.store(false, Ordering::SeqCst);
        if !lock(&self.queue).is_empty() {
            self.answer_queued();
        }
    }

    /// Unless a read runs (it will see the queue), answers the queued
    /// lookups with one query, on a task so that the caller goes on.
    fn answer_queued(self: &Arc<Self>) {
        if self.reading.swap(true, Ordering::SeqCst) {
            return;
        }
        let lookups = Arc::clone(self);
        tokio::spawn(async move {
            let batch: Vec<Lookup> = {
                let mut queue = lock(&lookups.queue);
                let take = queue.len().min(LOOKUP_BATCH);
                queue.drain(..take).collect()
            };
            if !batch.is_empty() {
                let rows = lookups.reads.newest_answered(&lookup::callers_json(&batch));
                lookup::reply_all(batch.into_iter(), rows);
            }
            lookups.done_reading();
        });
    }
}

/// Connections kept for reuse; more are opened (and then closed) only
/// when more threads read at once, which the runtime's worker count bounds.
const IDLE_CONNECTIONS: usize = 8;

/// The page cache of a reader, in KiB (as a negative `cache_size`). Small:
/// under writes SQLite empties it at each read anyway, and each
/// connection's default of 2 MiB added up to a tenth of the server's
/// memory.
const READER_CACHE_KIB: i64 = -256;

/// Read-only connections to one SQLite file, used on the caller's thread.
pub(crate) struct SqliteReads {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl SqliteReads {
    pub(crate) fn new(path: &Path) -> SqliteReads {
        SqliteReads {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// `(agent_id, agent_email)` of `caller`'s newest answered call at or
    /// after `since_ms`, as [`sql::LAST_AGENT`] finds it.
    pub(crate) fn last_agent(
        &self,
        caller: &str,
        since_ms: i64,
    ) -> Result<Option<AgentRow>, StoreError> {
        self.with_connection(|conn| {
            conn.prepare_cached(sql::LAST_AGENT)?
                .query_row(rusqlite::params![caller, since_ms], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()
        })
    }

    /// The newest answered call of each caller of `callers` (a JSON
    /// array), as [`sql::SQLITE_NEWEST_ANSWERED`] finds them.
    fn newest_answered(&self, callers: &str) -> Result<Vec<NewestAnswered>, StoreError> {
        self.with_connection(|conn| {
            conn.prepare_cached(sql::SQLITE_NEWEST_ANSWERED)?
                .query_map([callers], |row| {
                    Ok(NewestAnswered {
                        caller: row.get(0)?,
                        agent: (row.get(1)?, row.get(2)?),
                        answered_at: row.get(3)?,
                    })
                })?
                .collect()
        })
    }

    fn with_connection<T>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let reused = lock(&self.idle).pop();
        let conn = match reused {
            Some(conn) => conn,
            None => self.open().map_err(read_error)?,
        };
        let result = read(&conn).map_err(read_error);
        let mut idle = lock(&self.idle);
        if idle.len() < IDLE_CONNECTIONS {
            idle.push(conn);
        }
        result
    }

    fn open(&self) -> rusqlite::Result<rusqlite::Connection> {
        let conn = open_rusqlite(&self.path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        conn.pragma_update(None, "cache_size", READER_CACHE_KIB)?;
        Ok(conn)
    }
}

fn read_error(error: rusqlite::Error) -> StoreError {
    StoreError::Read(error.to_string())
}
