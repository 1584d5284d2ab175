-- Idempotency keys may be deleted by the operator's `firearms idempotency prune --older-than DAYS` (a key is
-- not a record: the record its request created stays). Otherwise the table stays append-only: an UPDATE is
-- refused as ever, and a DELETE unless the transaction set firearms.idempotency_prune (the prune's own, each
-- deletion journaled in it; set_config(..., true) lasts until that transaction ends).
CREATE FUNCTION idempotency_key_pruned_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('firearms.idempotency_prune', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'table % is append-only: % refused (keys are deleted by firearms idempotency prune only)',
        TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

DROP TRIGGER idempotency_key_append_only ON idempotency_key;
CREATE TRIGGER idempotency_key_append_only BEFORE UPDATE OR DELETE ON idempotency_key
    FOR EACH ROW EXECUTE FUNCTION idempotency_key_pruned_only();

-- The prune takes the oldest first.
CREATE INDEX idempotency_key_created_at_idx ON idempotency_key (created_at);
