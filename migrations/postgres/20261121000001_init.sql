-- The state store (PostgreSQL). Times are UNIX milliseconds (UTC).

-- One row per acknowledged webhook, written before the acknowledgement.
CREATE TABLE webhooks (
    id              BIGSERIAL PRIMARY KEY,
    received_at     BIGINT NOT NULL,
    event           TEXT    NOT NULL,
    call_id         BIGINT,
    caller          TEXT,
    number          TEXT,
    disposition     TEXT    NOT NULL,
    revision        TEXT,
    rule_name       TEXT,
    rule_file       TEXT,
    rule_line       BIGINT,
    actions         TEXT,
    call_started_at BIGINT,
    contact_status  TEXT,
    contact_detail  TEXT,
    decide_us       BIGINT,
    replica         TEXT    NOT NULL
);
CREATE INDEX webhooks_received_at ON webhooks (received_at);
CREATE INDEX webhooks_call_id ON webhooks (call_id);
CREATE INDEX webhooks_caller ON webhooks (caller, received_at);

-- Exactly one claim per call: the replica (and delivery) that decides it.
CREATE TABLE call_claims (
    call_id       BIGINT PRIMARY KEY,
    claimed_at    BIGINT NOT NULL,
    replica       TEXT    NOT NULL,
    deadline_at   BIGINT NOT NULL,
    action_count  BIGINT NOT NULL,
    outcome_count BIGINT NOT NULL DEFAULT 0,
    state         TEXT    NOT NULL
);
CREATE INDEX call_claims_state ON call_claims (state, replica);
CREATE INDEX call_claims_claimed_at ON call_claims (claimed_at);

-- What became of each action of a claimed call.
CREATE TABLE action_outcomes (
    id          BIGSERIAL PRIMARY KEY,
    call_id     BIGINT NOT NULL,
    recorded_at BIGINT NOT NULL,
    action      TEXT    NOT NULL,
    target      TEXT,
    status      TEXT    NOT NULL,
    reason      TEXT,
    attempts    BIGINT NOT NULL,
    latency_us  BIGINT NOT NULL,
    replica     TEXT    NOT NULL
);
CREATE INDEX action_outcomes_call_id ON action_outcomes (call_id);
CREATE INDEX action_outcomes_recorded_at ON action_outcomes (recorded_at);

-- Answered inbound calls, for `last_agent`.
CREATE TABLE call_history (
    call_id     BIGINT PRIMARY KEY,
    caller      TEXT    NOT NULL,
    agent_id    BIGINT,
    agent_email TEXT,
    answered_at BIGINT NOT NULL,
    event_at    BIGINT NOT NULL
);
CREATE INDEX call_history_caller ON call_history (caller, answered_at);
