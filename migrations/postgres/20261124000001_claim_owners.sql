-- Claims belong to a process, not to a replica name: `owner` is the
-- instance id of the `serve` that holds the claim (a fresh one per start).
-- Names may collide (two processes on one host share the default name);
-- instance ids do not, so a restarted process never mistakes another's
-- claims for its own.
--
-- Each instance holds a lease, renewed by a heartbeat; times are UNIX
-- milliseconds of the DATABASE's clock (never a replica's: hosts' clocks
-- differ). An unfinished claim whose owner holds no live lease belongs to
-- a process that is gone: another instance takes it over, with one UPDATE
-- per batch, so two of them never both take one claim.
--
-- A claim made before this migration has no owner; it is taken over at
-- start by an instance of the replica named in it (as before leases).

ALTER TABLE call_claims ADD COLUMN owner TEXT;

CREATE TABLE replica_leases (
    instance   TEXT   PRIMARY KEY,
    replica    TEXT   NOT NULL,
    started_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
