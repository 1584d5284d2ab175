-- A verifier's certificate is recorded for one firearm (Reg. 2015/2403 Art. 3): a new deactivation looks up the
-- deactivations in effect citing its certificate number, on this index rather than every event of the registry.
CREATE INDEX item_event_certificate_number_idx ON item_event (certificate_number)
    WHERE certificate_number IS NOT NULL;
