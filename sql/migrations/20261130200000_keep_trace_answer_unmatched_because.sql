-- A found trace answer sends the named item's record (its holders' history) to the requesting State. The item must
-- be one the request is about -- among its findings, or carrying one of its serials -- unless the officer says why
-- it is the weapon all the same (a serial ground off and re-stamped, say): that reason is kept with the answer
-- (and journaled with it), never sent. NULL for every answer before: none was checked, and none said why.
ALTER TABLE trace_answer
    ADD COLUMN unmatched_because text,
    ADD CONSTRAINT trace_answer_unmatched_because_check
        CHECK (unmatched_because IS NULL OR (outcome = 'found' AND item_id IS NOT NULL));
