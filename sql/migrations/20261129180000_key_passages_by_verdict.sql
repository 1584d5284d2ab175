-- A transit State reports a held check twice: the hold, then its officer's decision (released: clear;
-- refused: refuse), under the same check id. One record per (reporting State, check) dropped the decision,
-- and the exporting and importing States kept seeing the goods held at the border. One record per
-- reporting State, check and verdict: the same report again still changes nothing.
ALTER TABLE shipment_passage
    DROP CONSTRAINT shipment_passage_pkey,
    ADD CONSTRAINT shipment_passage_pkey PRIMARY KEY (recorded_by, check_id, verdict);
