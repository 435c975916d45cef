-- Leaner commits. Every commit writes each page it changed to the WAL
-- (two writes per page), so the pages a webhook touches are most of its
-- cost. A no-match `call.created` touched nine; now five:
--
-- - `AUTOINCREMENT` also updated `sqlite_sequence` on every commit. Plain
--   `INTEGER PRIMARY KEY` ids still grow (max + 1); pruning removes the
--   oldest rows, never the newest, so ids are not reused.
-- - The claims' state index only serves recovery, which looks for
--   unfinished claims: it now holds those alone, so a claim that is done
--   from the start (a `keep`) never enters it.
-- - Claims are pruned with the webhook records that made them (same
--   transaction, same call id), through the records' `received_at`
--   index: the claims' own `claimed_at` index is gone.

CREATE TABLE webhooks_lean (
    id              INTEGER PRIMARY KEY,
    received_at     INTEGER NOT NULL,
    event           TEXT    NOT NULL,
    call_id         INTEGER,
    caller          TEXT,
    number          TEXT,
    disposition     TEXT    NOT NULL,
    revision        TEXT,
    rule_name       TEXT,
    rule_file       TEXT,
    rule_line       INTEGER,
    actions         TEXT,
    call_started_at INTEGER,
    contact_status  TEXT,
    contact_detail  TEXT,
    decide_us       INTEGER,
    replica         TEXT    NOT NULL
);
INSERT INTO webhooks_lean SELECT * FROM webhooks;
DROP TABLE webhooks;
ALTER TABLE webhooks_lean RENAME TO webhooks;
CREATE INDEX webhooks_received_at ON webhooks (received_at);
CREATE INDEX webhooks_call_id ON webhooks (call_id);
CREATE INDEX webhooks_caller ON webhooks (caller, received_at);

CREATE TABLE action_outcomes_lean (
    id          INTEGER PRIMARY KEY,
    call_id     INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    action      TEXT    NOT NULL,
    target      TEXT,
    status      TEXT    NOT NULL,
    reason      TEXT,
    attempts    INTEGER NOT NULL,
    latency_us  INTEGER NOT NULL,
    replica     TEXT    NOT NULL
);
INSERT INTO action_outcomes_lean SELECT * FROM action_outcomes;
DROP TABLE action_outcomes;
ALTER TABLE action_outcomes_lean RENAME TO action_outcomes;
CREATE INDEX action_outcomes_call_id ON action_outcomes (call_id);
CREATE INDEX action_outcomes_recorded_at ON action_outcomes (recorded_at);

DROP INDEX call_claims_claimed_at;
DROP INDEX call_claims_state;
CREATE INDEX call_claims_unfinished ON call_claims (state, replica)
    WHERE state IN ('pending', 'sending');
