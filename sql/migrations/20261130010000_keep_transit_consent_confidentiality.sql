-- A transit State's decision received by notice is recorded twice in one transaction: as received
-- (consent_decision_received, which keeps the notice's confidentiality since 20261130002100) and on this
-- State's own licence (transit_consent, source 'notice', what the transit gate and the licensing officers read).
-- The second kept the decision's reason without its level (Art. 12(5), PROTOCOL §3: the receiver keeps the level
-- with the record). The column is added: a decision received by notice carries its notice's level; one an
-- officer entered or the timer deemed is this registry's own record and carries none (NULL).
--
-- The decisions received before take the level of the notice they came from, found as the received copy written
-- in the same transaction: same licence, transit State, decision, reason and valid_until, received within a
-- minute of the record (the nearest; of two as near, the stricter level). One for which no such copy is found
-- takes 'restricted', the level the received copies took when their notice could not be found (20261130002100)
-- and the one this project's notices are sent at. Each filled row journaled transit-consent.confidentiality-kept
-- (actor system:migration, with the notice id when known). The append-only guard is set aside for this one fill,
-- in this transaction, and put back.
ALTER TABLE transit_consent ADD COLUMN confidentiality text;
ALTER TABLE transit_consent DISABLE TRIGGER transit_consent_append_only;

WITH found AS (
    SELECT t.transit_consent_id, t.licence_id,
           (SELECT d.notice_id || ' ' || d.confidentiality
              FROM consent_decision_received AS d
             WHERE d.licence_number = l.number AND d.transit_state = t.transit_state AND d.decision = t.decision
               AND d.reason IS NOT DISTINCT FROM t.reason AND d.valid_until IS NOT DISTINCT FROM t.valid_until
               AND abs(extract(epoch FROM d.received_at - t.recorded_at)) <= 60
             ORDER BY abs(extract(epoch FROM d.received_at - t.recorded_at)),
                      array_position(ARRAY['public', 'restricted', 'confidential'], d.confidentiality) DESC
             LIMIT 1) AS notice
      FROM transit_consent AS t
      JOIN licence AS l USING (licence_id)
     WHERE t.source = 'notice'
), filled AS (
    UPDATE transit_consent AS t
       SET confidentiality = coalesce(split_part(f.notice, ' ', 2), 'restricted')
      FROM found AS f
     WHERE t.transit_consent_id = f.transit_consent_id
    RETURNING t.transit_consent_id, t.licence_id, t.confidentiality, split_part(f.notice, ' ', 1) AS notice_id
), journaled AS (
    INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)
    SELECT now(), 'system:migration', 'transit-consent.confidentiality-kept', 'licence', licence_id::text,
           jsonb_build_object('transit_consent_id', transit_consent_id, 'confidentiality', confidentiality,
                              'notice_id', nullif(notice_id, ''),
                              'migration', '20261130010000_keep_transit_consent_confidentiality.sql')
      FROM filled
     ORDER BY transit_consent_id
    RETURNING entry_id
)
INSERT INTO journal_pending (entry_id)
SELECT entry_id FROM journaled;

ALTER TABLE transit_consent ENABLE TRIGGER transit_consent_append_only;
ALTER TABLE transit_consent
    ADD CONSTRAINT transit_consent_confidentiality_check
        CHECK (confidentiality IN ('public', 'restricted', 'confidential')),
    ADD CONSTRAINT transit_consent_notice_confidentiality_check
        CHECK ((source = 'notice') = (confidentiality IS NOT NULL));
