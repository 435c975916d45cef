-- Claims belong to a process, not to a replica name: `owner` is the
-- instance id of the `serve` that holds the claim (a fresh one per start).
-- Names may collide (two processes on one host share the default name);
-- instance ids do not, so a restarted process never mistakes another's
-- claims for its own. On SQLite one process writes the file (the lock on
-- FILE.lock), so every claim another instance left unfinished belongs to
-- a run that is over; the next start takes them over. A claim made before
-- this migration has no owner and is taken over the same way.

ALTER TABLE call_claims ADD COLUMN owner TEXT;
