-- As in the SQLite store: the claims' state index holds the unfinished
-- claims alone (all that recovery looks for), and claims are pruned with
-- the webhook records that made them, so their `claimed_at` index goes.

DROP INDEX call_claims_claimed_at;
DROP INDEX call_claims_state;
CREATE INDEX call_claims_unfinished ON call_claims (state, replica)
    WHERE state IN ('pending', 'sending');
