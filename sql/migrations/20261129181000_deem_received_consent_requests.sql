-- A transit State that leaves a request unanswered for the silent period is deemed to consent (Reg.
-- 258/2012 Art. 7(2)). The exporting State counted that and issued; this State's own customs then refused
-- the consignment (`transit-consent-missing`), having no consent on record. Its timer now marks such a
-- request `deemed` and records the deemed consent on the licence as received (it finds them oldest first
-- through consent_request_received_pending_idx).
ALTER TABLE consent_request_received
    DROP CONSTRAINT consent_request_received_status_check,
    ADD CONSTRAINT consent_request_received_status_check
        CHECK (status IN ('pending', 'decided', 'superseded', 'deemed'));
