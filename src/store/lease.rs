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

use std::time::Duration;

use sqlx::PgPool;
use tokio::task::JoinHandle;

use super::sql;

/// A new instance id: `PID-RANDOM` (64 random bits from the operating
/// system, in hex). The pid is for people matching claims to processes;
/// the random part makes it unique, across hosts and restarts alike. No
/// replica name: claims and leases carry it beside, and every claim row
/// (SQLite's hot path too) holds the id.
pub(crate) fn new_instance_id() -> Result<String, getrandom::Error> {
    Ok(format!("{}-{:016x}", std::process::id(), getrandom::u64()?))
}

/// How often a lease of `expiry` is renewed, and how often replicas look
/// for the claims of instances that are gone: see [`Lease::renew_every`].
pub(crate) fn renew_every(expiry: Duration) -> Duration {
    (expiry / 5).max(Duration::from_millis(100))
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
    /// How often the heartbeat renews the lease: a fifth of its expiry
    /// (so four renewals in a row may fail before it lapses), and at most
    /// ten times a second whatever a config made in code says.
    pub(crate) fn renew_every(&self) -> Duration {
        renew_every(self.expiry)
    }

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

    /// Renews the lease until aborted (see [`Lease::renew_every`]).
    pub(crate) fn spawn_heartbeat(&self) -> JoinHandle<()> {
        let lease = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(lease.renew_every());
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
    #![expect(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn instance_ids_are_unique_within_one_process() {
        let (a, b) = (new_instance_id().unwrap(), new_instance_id().unwrap());
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("{}-", std::process::id())), "{a}");
        assert_eq!(a.len(), b.len());
    }
}
