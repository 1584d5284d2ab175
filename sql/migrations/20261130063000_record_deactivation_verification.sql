-- A deactivation (Protocol Art. 9; Reg. 2015/2403 Art. 3; DESIGN §3) names who deactivated the firearm, the
-- entity that verified it -- never the same person -- and the certificate (number, date) the verifier issued.
-- NULL on every other event, and on deactivations recorded before this migration (kept as they are: records
-- are append-only). The rules live in firearms/item_rules.py (the comparison of the two names folds case
-- and white space there); these constraints keep any other writer from storing the plainly wrong.
ALTER TABLE item_event
    ADD COLUMN deactivator        text,
    ADD COLUMN verifier           text,
    ADD COLUMN certificate_number text,
    ADD COLUMN certificate_date   date,
    ADD CONSTRAINT item_event_deactivation_fields_check CHECK (event = 'deactivated'
        OR (deactivator IS NULL AND verifier IS NULL AND certificate_number IS NULL AND certificate_date IS NULL)),
    ADD CONSTRAINT item_event_verifier_check CHECK (verifier IS NULL OR deactivator IS NULL
        OR verifier <> deactivator);
