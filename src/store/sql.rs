//! The SQL text of the store, shared by SQLite and PostgreSQL (both read
//! `$1`-style parameters, `ON CONFLICT`, and the same column types as far
//! as these statements go). Every value is a bound parameter.

pub(crate) const INSERT_CLAIM: &str = "INSERT INTO call_claims \
     (call_id, claimed_at, replica, deadline_at, action_count, outcome_count, state) \
     VALUES ($1, $2, $3, $4, $5, 0, 'pending') ON CONFLICT (call_id) DO NOTHING";

pub(crate) const INSERT_WEBHOOK: &str = "INSERT INTO webhooks \
     (received_at, event, call_id, caller, number, disposition, revision, rule_name, rule_file, \
      rule_line, actions, call_started_at, contact_status, contact_detail, decide_us, replica) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";

/// A later event about the same call replaces the agent; an older event
/// delivered late does not (`WHERE` on the conflict branch).
pub(crate) const UPSERT_HISTORY: &str = "INSERT INTO call_history \
     (call_id, caller, agent_id, agent_email, answered_at, event_at) \
     VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (call_id) DO UPDATE SET \
       caller = excluded.caller, agent_id = excluded.agent_id, \
       agent_email = excluded.agent_email, answered_at = excluded.answered_at, \
       event_at = excluded.event_at \
     WHERE excluded.event_at >= call_history.event_at";

pub(crate) const INSERT_OUTCOME: &str = "INSERT INTO action_outcomes \
     (call_id, recorded_at, action, target, status, reason, attempts, latency_us, replica) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// Counts an outcome against its claim; the claim is done when every
/// action has one.
pub(crate) const COUNT_OUTCOME: &str = "UPDATE call_claims SET \
     outcome_count = outcome_count + 1, \
     state = CASE WHEN outcome_count + 1 >= action_count THEN 'done' ELSE state END \
     WHERE call_id = $1 AND state = 'pending'";

pub(crate) const RELEASE_CLAIM: &str =
    "DELETE FROM call_claims WHERE call_id = $1 AND replica = $2";

pub(crate) const MARK_REJECTED: &str =
    "UPDATE webhooks SET disposition = 'rejected' WHERE call_id = $1 AND disposition = 'decided' AND replica = $2";

pub(crate) const SET_CLAIM_STATE: &str = "UPDATE call_claims SET state = $2 WHERE call_id = $1";

pub(crate) const LAST_AGENT: &str = "SELECT agent_id, agent_email FROM call_history \
     WHERE caller = $1 AND answered_at >= $2 \
     ORDER BY answered_at DESC, event_at DESC, call_id DESC LIMIT 1";

pub(crate) const PENDING_CLAIMS: &str = "SELECT c.call_id, c.deadline_at, w.actions, \
       w.rule_name, w.rule_file, w.rule_line, w.revision, w.call_started_at \
     FROM call_claims c JOIN webhooks w ON w.call_id = c.call_id AND w.disposition = 'decided' \
     WHERE c.state = 'pending' AND c.replica = $1 ORDER BY c.call_id";

pub(crate) const OUTCOMES_OF_CALL: &str = "SELECT call_id, recorded_at, action, target, status, \
       reason, attempts, latency_us FROM action_outcomes WHERE call_id = $1 ORDER BY id";

pub(crate) const PRUNE_WEBHOOKS: &str = "DELETE FROM webhooks WHERE id IN \
     (SELECT id FROM webhooks WHERE received_at < $1 LIMIT $2)";

pub(crate) const PRUNE_OUTCOMES: &str = "DELETE FROM action_outcomes WHERE id IN \
     (SELECT id FROM action_outcomes WHERE recorded_at < $1 LIMIT $2)";

pub(crate) const PRUNE_CLAIMS: &str = "DELETE FROM call_claims WHERE call_id IN \
     (SELECT call_id FROM call_claims WHERE claimed_at < $1 LIMIT $2)";

pub(crate) const PRUNE_HISTORY: &str = "DELETE FROM call_history WHERE call_id IN \
     (SELECT call_id FROM call_history WHERE answered_at < $1 LIMIT $2)";

pub(crate) const SELECT_WEBHOOKS: &str = "SELECT id, received_at, event, call_id, caller, number, \
       disposition, revision, rule_name, rule_file, rule_line, actions, call_started_at, \
       contact_status, contact_detail, decide_us, replica FROM webhooks WHERE 1 = 1";
