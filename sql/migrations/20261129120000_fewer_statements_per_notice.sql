-- Fewer statements per notice. Receiving (PROTOCOL §4): one call that locks the sender's inbox and reads what
-- checks 3-8 need, one write for the notice and its journal entry. Sending: the worker
-- leases a run of notices per partner and signs them with the key the claim names.

-- What checks 3-8 of PROTOCOL §4 need, in one call: first one receiver per sender at a time -- an advisory
-- lock held until commit (it writes nothing, unlike a row lock) -- then, each in a snapshot taken after the
-- lock was granted (a VOLATILE function takes a new one for every statement), so that whatever the receiver
-- before us committed is seen: the sender's keys when it is an enabled partner (NULL arrays otherwise), the
-- key this registry signs receipts with at `at`, the last sequence received from the sender and the notice
-- already stored under this id, if any. A forged notice holds the lock only while its signature is checked.
CREATE FUNCTION receive_context(
    from_state text, id text, at timestamptz,
    OUT key_ids text[], OUT public_keys bytea[], OUT not_befores timestamptz[], OUT not_afters timestamptz[],
    OUT revoked_ats timestamptz[], OUT own_key_id text, OUT last_sequence bigint, OUT notice bytea, OUT receipt bytea
)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7310003, hashtext(from_state));
    SELECT array_agg(k.key_id), array_agg(k.public_key), array_agg(k.not_before), array_agg(k.not_after),
           array_agg(k.revoked_at)
      INTO key_ids, public_keys, not_befores, not_afters, revoked_ats
      FROM peer_key AS k JOIN peer AS p USING (state)
     WHERE p.state = from_state AND p.enabled;
    own_key_id := current_registry_key_id(at);
    SELECT coalesce(max(i.sequence), 0) INTO last_sequence FROM notice_inbox AS i WHERE i.sender = from_state;
    SELECT i.notice, i.receipt INTO notice, receipt FROM notice_inbox AS i WHERE i.sender = from_state AND i.notice_id = id;
END
$$;

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
