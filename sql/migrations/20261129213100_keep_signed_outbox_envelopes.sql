-- An outgoing notice's signed bytes are what every retry sends (set_outbox_envelopes sets them once). The
-- guard of 20261129213000 lets the delivery state change, and the envelope with it: other bytes could be put
-- in place of the signed ones. Now they are set once (from NULL) and cleared only together with a new number
-- (resequence_outbox_notices, which has the notice signed again); any other change is refused.
CREATE FUNCTION notice_outbox_envelope_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table notice_outbox: the signed envelope is kept (cleared only with a new sequence number)'
        USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER notice_outbox_envelope_kept BEFORE UPDATE OF envelope ON notice_outbox
    FOR EACH ROW WHEN (OLD.envelope IS NOT NULL AND NEW.envelope IS DISTINCT FROM OLD.envelope
                       AND NOT (NEW.envelope IS NULL AND NEW.sequence IS DISTINCT FROM OLD.sequence))
    EXECUTE FUNCTION notice_outbox_envelope_kept();
