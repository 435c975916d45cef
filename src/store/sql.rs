//! The SQL text of the store, shared by SQLite and PostgreSQL (both read
//! `$1`-style parameters, `ON CONFLICT`, and the same column types as far
//! as these statements go). Every value is a bound parameter.

/// PostgreSQL's statements of one group commit. Each takes the whole batch's rows
/// as ONE bound JSON array (`$1`, rows as positional arrays) and expands it
/// in the database (`json_each` / `json_array_elements`): the statement
/// text never changes, so it is prepared once, and binding one string
/// costs far less than binding thousands of values.
pub(crate) struct BatchSql {
    /// `[call_id, claimed_at, deadline_at, action_count, state]`, `$2` the
    /// replica, `$3` the instance (the claims' owner); returns the call
    /// ids claimed.
    pub(crate) claims: &'static str,
    /// The 15 columns of a webhook record; `$2` the replica.
    pub(crate) webhooks: &'static str,
    /// `[call_id, caller, agent_id, agent_email, answered_at, event_at]`.
    pub(crate) history: &'static str,
    /// `[call_id, recorded_at, action, target, status, reason, attempts,
    /// latency_us]`; `$2` the replica.
    pub(crate) outcomes: &'static str,
    /// `[call_id, n]`: n more outcomes for the call's claim.
    pub(crate) count: &'static str,
    /// `[call_id, ...]`: these calls' transfers are about to be sent;
    /// `$2` the instance: only the claim's owner marks it. Returns the
    /// call ids marked.
    pub(crate) sending: &'static str,
}

/// A later event about the same call replaces the agent; an older event
/// delivered late does not.
macro_rules! history_conflict {
    () => {
        " ON CONFLICT (call_id) DO UPDATE SET \
           caller = excluded.caller, agent_id = excluded.agent_id, \
           agent_email = excluded.agent_email, answered_at = excluded.answered_at, \
           event_at = excluded.event_at \
         WHERE excluded.event_at >= call_history.event_at"
    };
}

/// SQLite's statements of one group commit: one row each, executed once
/// per row on a cached statement (in-process, a statement costs no round
/// trip). `?N` parameters, numbered by N (SQLite numbers `$N` in order of
/// appearance).
pub(crate) struct SqliteRowSql {
    /// `call_id, claimed_at, replica, deadline_at, action_count, state,
    /// owner`: changes one row if the claim is won, none if the call is
    /// claimed.
    pub(crate) claim: &'static str,
    /// The 15 columns of [`BatchSql::webhooks`], then the replica.
    pub(crate) webhook: &'static str,
    /// `call_id, caller, agent_id, agent_email, answered_at, event_at`.
    pub(crate) history: &'static str,
    /// The 8 columns of [`BatchSql::outcomes`], then the replica.
    pub(crate) outcome: &'static str,
    /// `call_id, n`: n more outcomes for the call's claim.
    pub(crate) count: &'static str,
    /// `call_id, owner`: its transfer is about to be sent; changes one
    /// row if `owner` still holds the claim, none if it was taken over.
    pub(crate) sending: &'static str,
}

pub(crate) const SQLITE_ROW: SqliteRowSql = SqliteRowSql {
    claim: "INSERT INTO call_claims \
         (call_id, claimed_at, replica, deadline_at, action_count, outcome_count, state, owner) \
         VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, ?7) ON CONFLICT (call_id) DO NOTHING",
    webhook: "INSERT INTO webhooks \
         (received_at, event, call_id, caller, number, disposition, revision, rule_name, \
          rule_file, rule_line, actions, call_started_at, contact_status, contact_detail, \
          decide_us, replica) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    history: concat!(
        "INSERT INTO call_history \
         (call_id, caller, agent_id, agent_email, answered_at, event_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        history_conflict!()
    ),
    outcome: "INSERT INTO action_outcomes \
         (call_id, recorded_at, action, target, status, reason, attempts, latency_us, replica) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    // `+state`: a primary-key seek, never a walk of the `state` index.
    count: "UPDATE call_claims SET outcome_count = outcome_count + ?2, \
           state = CASE WHEN outcome_count + ?2 >= action_count THEN 'done' ELSE state END \
         WHERE call_id = ?1 AND +state IN ('pending', 'sending')",
    // A second transfer of one decision finds the claim 'sending' already.
    sending: "UPDATE call_claims SET state = 'sending' \
         WHERE call_id = ?1 AND owner = ?2 AND +state IN ('pending', 'sending')",
};

/// PostgreSQL (`->>` gives text: cast to the column's type).
pub(crate) const POSTGRES_BATCH: BatchSql = BatchSql {
    claims: "INSERT INTO call_claims \
         (call_id, claimed_at, replica, deadline_at, action_count, outcome_count, state, owner) \
         SELECT (v->>0)::bigint, (v->>1)::bigint, $2, (v->>2)::bigint, (v->>3)::bigint, 0, \
           v->>4, $3 FROM json_array_elements($1::json) AS v WHERE true \
         ON CONFLICT (call_id) DO NOTHING RETURNING call_id",
    webhooks: "INSERT INTO webhooks \
         (received_at, event, call_id, caller, number, disposition, revision, rule_name, \
          rule_file, rule_line, actions, call_started_at, contact_status, contact_detail, \
          decide_us, replica) \
         SELECT (v->>0)::bigint, v->>1, (v->>2)::bigint, v->>3, v->>4, v->>5, v->>6, v->>7, \
           v->>8, (v->>9)::bigint, v->>10, (v->>11)::bigint, v->>12, v->>13, \
           (v->>14)::bigint, $2 FROM json_array_elements($1::json) AS v",
    history: concat!(
        "INSERT INTO call_history \
         (call_id, caller, agent_id, agent_email, answered_at, event_at) \
         SELECT (v->>0)::bigint, v->>1, (v->>2)::bigint, v->>3, (v->>4)::bigint, \
           (v->>5)::bigint FROM json_array_elements($1::json) AS v WHERE true",
        history_conflict!()
    ),
    outcomes: "INSERT INTO action_outcomes \
         (call_id, recorded_at, action, target, status, reason, attempts, latency_us, replica) \
         SELECT (v->>0)::bigint, (v->>1)::bigint, v->>2, v->>3, v->>4, v->>5, \
           (v->>6)::bigint, (v->>7)::bigint, $2 FROM json_array_elements($1::json) AS v",
    count: "UPDATE call_claims SET outcome_count = outcome_count + c.n, \
           state = CASE WHEN outcome_count + c.n >= action_count THEN 'done' ELSE state END \
         FROM (SELECT (v->>0)::bigint AS call_id, (v->>1)::bigint AS n \
               FROM json_array_elements($1::json) AS v) AS c \
         WHERE call_claims.call_id = c.call_id AND call_claims.state IN ('pending', 'sending')",
    sending: "UPDATE call_claims SET state = 'sending' \
         WHERE call_id IN (SELECT v::bigint FROM json_array_elements_text($1::json) AS v) \
           AND owner = $2 AND state IN ('pending', 'sending') RETURNING call_id",
};

/// `$1` the call, `$2` the instance (the claim's owner).
pub(crate) const RELEASE_CLAIM: &str = "DELETE FROM call_claims WHERE call_id = $1 AND owner = $2";

/// `$1` the call, `$2` the replica (records name replicas, not instances).
pub(crate) const MARK_REJECTED: &str =
    "UPDATE webhooks SET disposition = 'rejected' WHERE call_id = $1 AND disposition = 'decided' AND replica = $2";

/// `$1` the call, `$2` the state, `$3` the instance (the claim's owner).
pub(crate) const SET_CLAIM_STATE: &str =
    "UPDATE call_claims SET state = $2 WHERE call_id = $1 AND owner = $3";

pub(crate) const LAST_AGENT: &str = "SELECT agent_id, agent_email FROM call_history \
     WHERE caller = $1 AND answered_at >= $2 \
     ORDER BY answered_at DESC, event_at DESC, call_id DESC LIMIT 1";

/// The newest answered call of each caller of a JSON array of E.164
/// strings (`$1`), in the order of [`LAST_AGENT`]; the window is applied
/// by the caller (the newest call is in the window, or none is). Callers
/// with no history have no row.
pub(crate) const SQLITE_NEWEST_ANSWERED: &str = "SELECT j.value AS caller, h.agent_id, \
       h.agent_email, h.answered_at \
     FROM json_each($1) AS j JOIN call_history AS h ON h.call_id = \
       (SELECT c.call_id FROM call_history AS c WHERE c.caller = j.value \
        ORDER BY c.answered_at DESC, c.event_at DESC, c.call_id DESC LIMIT 1)";

/// [`SQLITE_NEWEST_ANSWERED`] for PostgreSQL.
pub(crate) const POSTGRES_NEWEST_ANSWERED: &str = "SELECT j.caller, h.agent_id, h.agent_email, \
       h.answered_at \
     FROM json_array_elements_text($1::json) AS j(caller) CROSS JOIN LATERAL \
       (SELECT c.agent_id, c.agent_email, c.answered_at FROM call_history AS c \
        WHERE c.caller = j.caller \
        ORDER BY c.answered_at DESC, c.event_at DESC, c.call_id DESC LIMIT 1) AS h";

/// An unfinished claim `$1` held by instance `$2`, with the decision
/// that made it (the newest, should a call have been decided twice).
pub(crate) const PENDING_CLAIM: &str = "SELECT c.call_id, c.deadline_at, w.actions, \
       w.rule_name, w.rule_file, w.rule_line, w.revision, w.call_started_at, c.state \
     FROM call_claims c JOIN webhooks w ON w.call_id = c.call_id AND w.disposition = 'decided' \
     WHERE c.call_id = $1 AND c.owner = $2 AND c.state IN ('pending', 'sending') \
     ORDER BY w.id DESC LIMIT 1";

/// SQLite: every unfinished claim that instance `?1` does not hold goes
/// to it. Only at start: one process writes the file (its lock), so the
/// other instances' runs are over. Returns the call ids taken.
pub(crate) const SQLITE_TAKE_OVER: &str = "UPDATE call_claims SET owner = ?1 \
     WHERE state IN ('pending', 'sending') AND (owner IS NULL OR owner <> ?1) \
     RETURNING call_id";

/// The database's clock in UNIX milliseconds: leases are set and read on
/// one clock, whatever the clocks of the replicas' hosts say.
macro_rules! db_now_ms {
    () => {
        "(extract(epoch FROM now()) * 1000)::bigint"
    };
}

/// PostgreSQL: takes instance `$1`'s lease (replica `$2`) or renews it,
/// to expire `$3` ms from now.
pub(crate) const RENEW_LEASE: &str = concat!(
    "INSERT INTO replica_leases (instance, replica, started_at, expires_at) VALUES ($1, $2, ",
    db_now_ms!(),
    ", ",
    db_now_ms!(),
    " + $3) ON CONFLICT (instance) DO UPDATE SET expires_at = excluded.expires_at"
);

/// PostgreSQL: instance `$1` is stopping; its lease ends now.
pub(crate) const END_LEASE: &str = concat!(
    "UPDATE replica_leases SET expires_at = ",
    db_now_ms!(),
    " WHERE instance = $1"
);

/// PostgreSQL: the instances other than `$1` that hold unfinished claims
/// and no live lease (gone: killed, crashed, or stopped). Never `$1`
/// itself, even with its lease lapsed: its claims are in its own queue.
pub(crate) const GONE_OWNERS: &str = concat!(
    "SELECT DISTINCT owner FROM call_claims \
     WHERE state IN ('pending', 'sending') AND owner <> $1 AND owner NOT IN \
       (SELECT instance FROM replica_leases WHERE expires_at > ",
    db_now_ms!(),
    ")"
);

/// PostgreSQL: the unfinished claims of the instances `$2` (an array) go
/// to instance `$1`. One statement: a claim another instance takes over
/// first no longer has its old owner when this one reaches the row (the
/// row lock makes it wait, then the condition is checked again), so no
/// claim is taken twice. Returns the call ids taken.
pub(crate) const TAKE_OVER_CLAIMS: &str = "UPDATE call_claims SET owner = $1 \
     WHERE owner = ANY($2) AND state IN ('pending', 'sending') RETURNING call_id";

/// PostgreSQL, at start: claims made before claims had owners, by the
/// replica named `$2`, go to instance `$1` (the rule before leases).
pub(crate) const TAKE_OVER_UNOWNED: &str = "UPDATE call_claims SET owner = $1 \
     WHERE owner IS NULL AND replica = $2 AND state IN ('pending', 'sending') \
     RETURNING call_id";

/// PostgreSQL: leases that ended before `$1` (the retention's cutoff).
pub(crate) const PRUNE_LEASES: &str = "DELETE FROM replica_leases WHERE expires_at < $1";

pub(crate) const OUTCOMES_OF_CALL: &str = "SELECT call_id, recorded_at, action, target, status, \
       reason, attempts, latency_us FROM action_outcomes WHERE call_id = $1 ORDER BY id";

/// The oldest records before `$1`, at most `$2`: one pruning chunk. The
/// claims of the chunk's calls go first ([`PRUNE_CLAIMS`], which picks
/// the same rows: same index, same order), then the records.
pub(crate) const PRUNE_WEBHOOKS: &str = "DELETE FROM webhooks WHERE id IN \
     (SELECT id FROM webhooks WHERE received_at < $1 ORDER BY received_at, id LIMIT $2)";

pub(crate) const PRUNE_OUTCOMES: &str = "DELETE FROM action_outcomes WHERE id IN \
     (SELECT id FROM action_outcomes WHERE recorded_at < $1 LIMIT $2)";

/// A claim is made in the same transaction as the record that asks for
/// it, with `claimed_at` its `received_at`: pruning claims with their
/// calls' records needs no index of claims by time. A claim newer than
/// the cutoff (a call with records before its claim) stays; it goes with
/// its own record, in a later pass.
pub(crate) const PRUNE_CLAIMS: &str = "DELETE FROM call_claims WHERE call_id IN \
     (SELECT call_id FROM webhooks WHERE received_at < $1 ORDER BY received_at, id LIMIT $2) \
     AND claimed_at < $1";

pub(crate) const PRUNE_HISTORY: &str = "DELETE FROM call_history WHERE call_id IN \
     (SELECT call_id FROM call_history WHERE answered_at < $1 LIMIT $2)";

pub(crate) const SELECT_WEBHOOKS: &str = "SELECT id, received_at, event, call_id, caller, number, \
       disposition, revision, rule_name, rule_file, rule_line, actions, call_started_at, \
       contact_status, contact_detail, decide_us, replica FROM webhooks WHERE 1 = 1";
