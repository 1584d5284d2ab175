-- A transit State consents to the content it was shown (Reg. 258/2012 Art. 7): a request records the
-- licence version it carried, a decision the version it answers. Amending a pending licence asks every
-- transit State again, and the gate counts only a decision on the version last asked about (or later).
-- Rows stored before this migration answer the licence's version of today.
ALTER TABLE transit_consent_request ADD COLUMN licence_version integer;
UPDATE transit_consent_request r SET licence_version = l.version FROM licence l WHERE l.licence_id = r.licence_id;
ALTER TABLE transit_consent_request ALTER COLUMN licence_version SET NOT NULL,
    ADD CONSTRAINT transit_consent_request_version_check CHECK (licence_version >= 1);

-- transit_consent is append-only (trigger transit_consent_append_only): the backfill runs with the
-- trigger disabled, inside this migration's transaction.
ALTER TABLE transit_consent ADD COLUMN licence_version integer;
ALTER TABLE transit_consent DISABLE TRIGGER transit_consent_append_only;
UPDATE transit_consent c SET licence_version = l.version FROM licence l WHERE l.licence_id = c.licence_id;
ALTER TABLE transit_consent ENABLE TRIGGER transit_consent_append_only;
ALTER TABLE transit_consent ALTER COLUMN licence_version SET NOT NULL,
    ADD CONSTRAINT transit_consent_version_check CHECK (licence_version >= 1);
