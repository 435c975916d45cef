//! The open-files limit, and the connection cap derived from it.
//!
//! Every connection costs a file descriptor. A process that runs out of
//! them cannot accept (nor open the store, nor reach Aircall), so `serve`
//! raises its soft limit to the hard limit at start, and by default
//! accepts at most what that limit leaves once the rest of the process
//! has what it needs.

use std::io;

/// Descriptors kept for everything but client connections: the store
/// (SQLite file, WAL, lock; or the PostgreSQL pool), the Aircall client's
/// connections, rules and contact files, the watcher, the runtime.
const RESERVED: u64 = 256;

/// The default cap never goes above this, however high the limit: a
/// webhook endpoint has no use for more, and each connection holds
/// buffers.
const DEFAULT_CAP_CEILING: u64 = 10_000;

/// The soft limit assumed where the platform has none to read.
const ASSUMED_LIMIT: u64 = 1024;

/// Raises the soft limit on open files to the hard limit; returns the
/// limits before and after.
pub fn raise_to_hard_limit() -> io::Result<(u64, u64)> {
    let before = soft_limit()?;
    let after = rlimit::increase_nofile_limit(u64::MAX)?;
    Ok((before, after))
}

/// The current soft limit on open files.
pub fn soft_limit() -> io::Result<u64> {
    #[cfg(unix)]
    {
        rlimit::Resource::NOFILE.get().map(|(soft, _hard)| soft)
    }
    #[cfg(not(unix))]
    {
        Ok(ASSUMED_LIMIT)
    }
}

/// The connection cap when `server.max_connections` is not set: the
/// limit less what the rest of the process needs (at least half of it
/// for connections when the limit is small), at most 10,000.
pub fn default_max_connections(open_files: u64) -> usize {
    let cap = open_files
        .saturating_sub(RESERVED)
        .max(open_files / 2)
        .clamp(1, DEFAULT_CAP_CEILING);
    usize::try_from(cap).unwrap_or(1)
}

/// The default cap for this process's current limit.
pub fn current_default_max_connections() -> usize {
    default_max_connections(soft_limit().unwrap_or(ASSUMED_LIMIT))
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn the_default_cap_follows_the_limit() {
        assert_eq!(default_max_connections(1024), 768);
        assert_eq!(default_max_connections(4096), 3840);
        // A small limit still leaves half for connections.
        assert_eq!(default_max_connections(256), 128);
        assert_eq!(default_max_connections(1), 1);
        // A large one (or none: RLIM_INFINITY) stops at the ceiling.
        assert_eq!(default_max_connections(1 << 20), 10_000);
        assert_eq!(default_max_connections(u64::MAX), 10_000);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let (before, after) = raise_to_hard_limit().unwrap();
        let (soft, hard) = rlimit::Resource::NOFILE.get().unwrap();
        assert_eq!((soft, after), (hard, hard), "raised from {before}");
    }
}
