-- A trace answer (trace_answer) kept no confidentiality, though the receiver keeps the level with the record
-- (Art. 12(5), PROTOCOL §3) and a found record names a weapon's holders: the answer to this State's request was
-- shown at the level this State chose for the request, whatever level the partner sent its answer at. The
-- column is added; the answers before take the level of their notice: the partner's, which the inbox kept
-- (received, on an outgoing request), or the one this registry sent, which the outbox kept (sent, on an incoming
-- one); the request's level where no notice is found (it cannot happen). Each filled row is journaled
-- trace-answer.confidentiality-kept (actor system:migration). The append-only guard is set aside for this one
-- fill, in this transaction, and put back.
ALTER TABLE trace_answer ADD COLUMN confidentiality text;
ALTER TABLE trace_answer DISABLE TRIGGER trace_answer_append_only;

WITH filled AS (
    UPDATE trace_answer AS w
       SET confidentiality = coalesce(
               CASE r.direction
                   WHEN 'outgoing' THEN (SELECT i.confidentiality FROM notice_inbox AS i
                                          WHERE i.sender = r.partner_state AND i.notice_id = w.notice_id)
                   ELSE (SELECT o.confidentiality FROM notice_outbox AS o WHERE o.notice_id::text = w.notice_id)
               END,
               r.confidentiality)
      FROM trace_request AS r
     WHERE r.trace_request_id = w.trace_request_id
    RETURNING w.trace_request_id, w.confidentiality
), journaled AS (
    INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)
    SELECT now(), 'system:migration', 'trace-answer.confidentiality-kept', 'trace_request', trace_request_id::text,
           jsonb_build_object('confidentiality', confidentiality,
                              'migration', '20261130192000_keep_trace_answer_confidentiality.sql')
      FROM filled
     ORDER BY trace_request_id
    RETURNING entry_id
)
INSERT INTO journal_pending (entry_id)
SELECT entry_id FROM journaled;

ALTER TABLE trace_answer ENABLE TRIGGER trace_answer_append_only;
ALTER TABLE trace_answer
    ALTER COLUMN confidentiality SET NOT NULL,
    ADD CONSTRAINT trace_answer_confidentiality_check
        CHECK (confidentiality IN ('public', 'restricted', 'confidential'));
