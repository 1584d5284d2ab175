-- A newer transit-consent request from the same State about the same licence (the exporting State
-- amended the pending licence, or asked again) supersedes the older pending one: the officer decides the
-- content the exporting State is now waiting on, not what it asked before.
ALTER TABLE consent_request_received
    DROP CONSTRAINT consent_request_received_status_check,
    ADD CONSTRAINT consent_request_received_status_check CHECK (status IN ('pending', 'decided', 'superseded')),
    ADD COLUMN superseded_by text;
CREATE INDEX consent_request_received_licence_idx ON consent_request_received (requesting_state, licence_number)
    WHERE status = 'pending';
