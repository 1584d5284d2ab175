-- The day a received transit-consent request's silent period ended, as this State's timer counted it when it deemed
-- the request (Reg. 258/2012 Art. 7(2): this State's silence is consent from the next day). A decision the officer
-- tries after it is refused naming that day (409 consent-already-decided), whatever holidays are configured since.
-- One row per deemed request, written with it; append-only. The requests deemed before take the day their
-- transit-consent.deemed journal entry names (deemed_on, written in the same transaction as the request was deemed);
-- each filled row is journaled transit-consent.deemed-day-kept (actor system:migration).
CREATE TABLE consent_request_deemed (
    requesting_state  text        NOT NULL,
    notice_id         text        NOT NULL,
    silent_period_end date        NOT NULL,
    deemed_at         timestamptz NOT NULL,
    CONSTRAINT consent_request_deemed_pkey PRIMARY KEY (requesting_state, notice_id),
    CONSTRAINT consent_request_deemed_request_fkey FOREIGN KEY (requesting_state, notice_id)
        REFERENCES consent_request_received (requesting_state, notice_id)
);
CREATE TRIGGER consent_request_deemed_append_only BEFORE UPDATE OR DELETE ON consent_request_deemed
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER consent_request_deemed_truncate_refused BEFORE TRUNCATE ON consent_request_deemed
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

WITH filled AS (
    INSERT INTO consent_request_deemed (requesting_state, notice_id, silent_period_end, deemed_at)
    SELECT r.requesting_state, r.notice_id, (j.payload ->> 'deemed_on')::date, r.decided_at
      FROM consent_request_received AS r
      JOIN LATERAL (SELECT e.payload FROM journal_entry AS e
                     WHERE e.action = 'transit-consent.deemed' AND e.entity = 'consent_request_received'
                       AND e.entity_id = r.requesting_state || '/' || r.notice_id
                     ORDER BY e.entry_id DESC
                     LIMIT 1) AS j ON true
     WHERE r.status = 'deemed'
    RETURNING requesting_state, notice_id, silent_period_end
), journaled AS (
    INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)
    SELECT now(), 'system:migration', 'transit-consent.deemed-day-kept', 'consent_request_received',
           requesting_state || '/' || notice_id,
           jsonb_build_object('silent_period_end', silent_period_end,
                              'migration', '20261201020000_keep_consent_request_deemed_day.sql')
      FROM filled
     ORDER BY requesting_state, notice_id
    RETURNING entry_id
)
INSERT INTO journal_pending (entry_id)
SELECT entry_id FROM journaled;
