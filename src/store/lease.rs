//! Who holds a claim: every `serve` process is an instance, with an id of
//! its own made at start, and on PostgreSQL a lease that says it is alive.
//!
//! Replica names are for people and may repeat (two processes on one host
//! share the default name, the host name), so claims name the instance:
//! a restarted process is a new instance and never mistakes another
//! process's claims for its own. On PostgreSQL each instance renews its
//! lease every fifth of `store.lease_expiry`, on the database's clock; the
//! unfinished claims of an instance without a live lease are taken over
//! by another ([`super::Store::recover`]). On SQLite one process writes
//! the file (its lock), so there is no lease: the claims of other
//! instances are those of earlier runs, taken over at start.
//!
//! A lease can also expire under a live process (stalled for longer than
//! the expiry, or cut off from the database). What keeps its calls from
//! being transferred twice then is the "sending" mark: only the claim's
//! current owner can set it, and a transfer goes out only once it is set.

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::PgPool;
use tokio::task::JoinHandle;

use super::sql;

/// A new instance id: `REPLICA/PID/RANDOM` (64 random bits). The name and
/// the pid are for people reading the store; the random part makes it
/// unique, across hosts and restarts alike.
pub(crate) fn new_instance_id(replica: &str) -> String {
    // `RandomState` is keyed from the operating system's randomness.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    hasher.write_u128(since_epoch.as_nanos());
    hasher.write_u32(std::process::id());
    format!(
        "{replica}/{}/{:016x}",
        std::process::id(),
        hasher.finish()
    )
}

/// This instance's lease on PostgreSQL.
#[derive(Debug, Clone)]
pub(crate) struct Lease {
    pub(crate) pool: PgPool,
    pub(crate) instance: String,
    pub(crate) replica: String,
    pub(crate) expiry: Duration,
}

impl Lease {
    /// Takes the lease, or extends it to `expiry` from now (database time).
    pub(crate) async fn renew(&self) -> Result<(), sqlx::Error> {
        sqlx::query(sql::RENEW_LEASE)
            .bind(self.instance.as_str())
            .bind(self.replica.as_str())
            .bind(i64::try_from(self.expiry.as_millis()).unwrap_or(i64::MAX))
            .execute(&self.pool)
            .await
            .map(drop)
    }

    /// Ends the lease now: the instance is stopping, and whatever it
    /// leaves unfinished is for the others to take over at once.
    pub(crate) async fn end(&self) -> Result<(), sqlx::Error> {
        sqlx::query(sql::END_LEASE)
            .bind(self.instance.as_str())
            .execute(&self.pool)
            .await
            .map(drop)
    }

    /// Renews the lease every fifth of its expiry until aborted: four
    /// renewals in a row may fail (a database hiccup) before it lapses.
    pub(crate) fn spawn_heartbeat(&self) -> JoinHandle<()> {
        let lease = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(lease.expiry / 5);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The first tick is immediate: `Store::open` took the lease.
            ticks.tick().await;
            let mut failing = false;
            loop {
                ticks.tick().await;
                match lease.renew().await {
                    Ok(()) if failing => {
                        failing = false;
                        tracing::info!("replica lease renewed again");
                    }
                    Ok(()) => {}
                    Err(error) => {
                        failing = true;
                        tracing::warn!(
                            %error,
                            "could not renew the replica lease; if it lapses, other replicas \
                             take over this one's unfinished calls (none is transferred twice)"
                        );
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_are_unique_for_one_name() {
        let a = new_instance_id("host-a");
        let b = new_instance_id("host-a");
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("host-a/{}/", std::process::id())), "{a}");
    }
}
