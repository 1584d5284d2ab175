-- A licence version is append-only except for its one signature (DESIGN §6). The guard compared only
-- the content and who created it when: an unsigned (draft, pending or superseded) version's parties,
-- brokers and reason could be rewritten by any writer. Every column but the signature's is now fixed.
CREATE OR REPLACE FUNCTION licence_version_sign_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR OLD.signature IS NOT NULL
       OR (NEW.licence_id, NEW.version, NEW.content, NEW.exporter_id, NEW.consignee_id, NEW.final_recipient_id,
           NEW.broker_ids, NEW.reason, NEW.created_at, NEW.created_by)
          IS DISTINCT FROM (OLD.licence_id, OLD.version, OLD.content, OLD.exporter_id, OLD.consignee_id,
                            OLD.final_recipient_id, OLD.broker_ids, OLD.reason, OLD.created_at, OLD.created_by) THEN
        RAISE EXCEPTION 'licence_version is append-only: a version is only signed once'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;
