//! Point reads of a SQLite store on the request path.
//!
//! `last_agent` is read for every `call.created` when the rules use it.
//! Through sqlx, each read is a hand-off to the connection's own thread
//! and back: two context switches, which on two cores cost more than the
//! read itself (an indexed lookup in pages the OS has cached, a few
//! microseconds). These reads run instead on the caller's thread, on
//! connections of their own kept here, as the writer's commits do. WAL
//! mode lets them read beside the writer without waiting for it.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use rusqlite::OptionalExtension;

use super::{sql, AgentRow, StoreError, SQLITE_BUSY_TIMEOUT};

/// Connections kept for reuse; more are opened (and then closed) only
/// when more threads read at once, which the runtime's worker count bounds.
const IDLE_CONNECTIONS: usize = 8;

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

    fn with_connection<T>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let reused = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match reused {
            Some(conn) => conn,
            None => self.open().map_err(read_error)?,
        };
        let result = read(&conn).map_err(read_error);
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE_CONNECTIONS {
            idle.push(conn);
        }
        result
    }

    fn open(&self) -> rusqlite::Result<rusqlite::Connection> {
        let conn = rusqlite::Connection::open_with_flags(
            &self.path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(SQLITE_BUSY_TIMEOUT)?;
        Ok(conn)
    }
}

fn read_error(error: rusqlite::Error) -> StoreError {
    StoreError::Read(error.to_string())
}
