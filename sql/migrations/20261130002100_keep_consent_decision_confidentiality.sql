-- A transit State's decision received (consent_decision_received) kept no confidentiality, though the receiver
-- keeps the level with the record (Art. 12(5), PROTOCOL §3) and an objection's reason may be confidential.
-- The column is added; the decisions received before take their notice's level, which the inbox kept with
-- the same notice (each filled row journaled consent-decision.confidentiality-kept, actor system:migration).
-- The append-only guard is set aside for this one fill, in this transaction, and put back.
ALTER TABLE consent_decision_received ADD COLUMN confidentiality text;
ALTER TABLE consent_decision_received DISABLE TRIGGER consent_decision_received_append_only;

WITH filled AS (
    UPDATE consent_decision_received AS d
       SET confidentiality = coalesce(
               (SELECT i.confidentiality FROM notice_inbox AS i
                 WHERE i.sender = d.transit_state AND i.notice_id = d.notice_id),
               'restricted')
    RETURNING d.transit_state, d.notice_id, d.confidentiality
), journaled AS (
    INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)
    SELECT now(), 'system:migration', 'consent-decision.confidentiality-kept', 'consent_decision_received',
           transit_state || '/' || notice_id,
           jsonb_build_object('confidentiality', confidentiality,
                              'migration', '20261130002100_keep_consent_decision_confidentiality.sql')
      FROM filled
     ORDER BY transit_state, notice_id
    RETURNING entry_id
)
INSERT INTO journal_pending (entry_id)
SELECT entry_id FROM journaled;

ALTER TABLE consent_decision_received ENABLE TRIGGER consent_decision_received_append_only;
ALTER TABLE consent_decision_received
    ALTER COLUMN confidentiality SET NOT NULL,
    ADD CONSTRAINT consent_decision_received_confidentiality_check
        CHECK (confidentiality IN ('public', 'restricted', 'confidential'));
