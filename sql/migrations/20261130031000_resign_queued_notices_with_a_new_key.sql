-- keys replace: a registry restored from a backup older than its key's revocation (or rotation) signs with a key its
-- partners refuse. It makes a new key, given to its partners out of band, and every notice still queued is signed
-- again with it: the notice itself (id, sequence, created_at, body) is kept, so a partner that holds it already
-- compares the same canonical bytes (PROTOCOL §4 check 7) and answers with its first receipt. So the key a queued
-- notice is signed with may change now, and its signed envelope is cleared with it -- only while it is queued,
-- only together; the guards of 20261129213000/20261129213100 refused both.

DROP TRIGGER notice_outbox_change_only ON notice_outbox;
CREATE TRIGGER notice_outbox_change_only BEFORE UPDATE OR DELETE ON notice_outbox
    FOR EACH ROW EXECUTE FUNCTION change_only_columns('sequence', 'envelope', 'status', 'attempts', 'last_error',
        'last_attempt_at', 'next_attempt_at', 'lease_owner', 'lease_until', 'delivered_at', 'receipt',
        'receipt_reason', 'expected_sequence', 'id_conflict_at', 'signing_key_id');

CREATE OR REPLACE FUNCTION notice_outbox_envelope_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table notice_outbox: the signed envelope is kept (cleared only with a new sequence number or '
        'a new signing key)' USING ERRCODE = 'restrict_violation';
END;
$$;
DROP TRIGGER notice_outbox_envelope_kept ON notice_outbox;
CREATE TRIGGER notice_outbox_envelope_kept BEFORE UPDATE OF envelope ON notice_outbox
    FOR EACH ROW WHEN (OLD.envelope IS NOT NULL AND NEW.envelope IS DISTINCT FROM OLD.envelope
                       AND NOT (NEW.envelope IS NULL AND (NEW.sequence IS DISTINCT FROM OLD.sequence
                                                          OR NEW.signing_key_id IS DISTINCT FROM OLD.signing_key_id)))
    EXECUTE FUNCTION notice_outbox_envelope_kept();

-- The key of a notice changes only while it is queued, to one of this registry's keys, its kept bytes cleared: a
-- delivered notice's bytes are what its receipt acknowledged, and kept bytes under another key would be sent as
-- that key's signature.
CREATE FUNCTION notice_outbox_signing_key_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status <> 'queued' OR NEW.status <> 'queued' OR NEW.envelope IS NOT NULL OR NEW.signing_key_id IS NULL
       OR NOT EXISTS (SELECT FROM registry_key WHERE key_id = NEW.signing_key_id) THEN
        RAISE EXCEPTION 'table notice_outbox: the signing key of a notice changes only while it is queued, to a key '
            'of this registry, with its signed envelope cleared' USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER notice_outbox_signing_key_kept BEFORE UPDATE OF signing_key_id ON notice_outbox
    FOR EACH ROW WHEN (NEW.signing_key_id IS DISTINCT FROM OLD.signing_key_id)
    EXECUTE FUNCTION notice_outbox_signing_key_kept();
