-- Fewer statements per notice. Receiving (PROTOCOL §4): one read for checks 3-4 and the receipt key, one
-- lock for checks 7-8, one write for the notice, its sequence and its journal entry. Sending: the worker
-- leases a run of notices per partner and signs them with the key the claim names.

-- The last sequence received from a partner, kept on the partner's row (the counterpart of
-- last_sent_sequence). A receiver locks that row (FOR NO KEY UPDATE) until commit; one that waited for the
-- lock reads the row as its predecessor committed it, so it needs no second statement to learn the sequence.
ALTER TABLE peer ADD COLUMN received_sequence bigint NOT NULL DEFAULT 0
    CONSTRAINT peer_received_sequence_check CHECK (received_sequence >= 0);
UPDATE peer
   SET received_sequence = received.last
  FROM (SELECT sender, max(sequence) AS last FROM notice_inbox GROUP BY sender) AS received
 WHERE received.sender = peer.state;

-- The key this registry signs with at a moment: the newest one valid then and not revoked.
CREATE FUNCTION current_registry_key_id(at timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT key_id
      FROM registry_key
     WHERE not_before <= at AND (not_after IS NULL OR at < not_after) AND revoked_at IS NULL
     ORDER BY not_before DESC, created_at DESC
     LIMIT 1
$$;

-- The key to sign a notice created at a moment: the newest key valid then (a key revoked later still signs
-- what was created before its revocation).
CREATE FUNCTION registry_key_at(at timestamptz) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT key_id
      FROM registry_key
     WHERE not_before <= at AND (not_after IS NULL OR at < not_after) AND (revoked_at IS NULL OR revoked_at > at)
     ORDER BY not_before DESC, created_at DESC
     LIMIT 1
$$;
