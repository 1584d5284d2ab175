-- The licence versions sent to partners, found by licence number: a licence reinstated after an amendment
-- made while it was suspended sends the version the partners have not seen yet.
CREATE INDEX notice_outbox_licence_number_idx ON notice_outbox ((body -> 'licence' ->> 'number'))
    WHERE type IN ('export-licence.issued', 'import-authorisation.issued');
