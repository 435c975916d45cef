-- The state store (SQLite). Times are UNIX milliseconds (UTC).

-- One row per acknowledged webhook, written before the acknowledgement.
CREATE TABLE webhooks (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
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
CREATE INDEX webhooks_received_at ON webhooks (received_at);
CREATE INDEX webhooks_call_id ON webhooks (call_id);
CREATE INDEX webhooks_caller ON webhooks (caller, received_at);

-- Exactly one claim per call: the replica (and delivery) that decides it.
CREATE TABLE call_claims (
    call_id       INTEGER PRIMARY KEY,
    claimed_at    INTEGER NOT NULL,
    replica       TEXT    NOT NULL,
    deadline_at   INTEGER NOT NULL,
    action_count  INTEGER NOT NULL,
    outcome_count INTEGER NOT NULL DEFAULT 0,
    state         TEXT    NOT NULL
);
CREATE INDEX call_claims_state ON call_claims (state, replica);
CREATE INDEX call_claims_claimed_at ON call_claims (claimed_at);

-- What became of each action of a claimed call.
CREATE TABLE action_outcomes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
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
CREATE INDEX action_outcomes_call_id ON action_outcomes (call_id);
CREATE INDEX action_outcomes_recorded_at ON action_outcomes (recorded_at);

-- Answered inbound calls, for `last_agent`.
CREATE TABLE call_history (
    call_id     INTEGER PRIMARY KEY,
    caller      TEXT    NOT NULL,
    agent_id    INTEGER,
    agent_email TEXT,
    answered_at INTEGER NOT NULL,
    event_at    INTEGER NOT NULL
);
CREATE INDEX call_history_caller ON call_history (caller, answered_at);
