-- Customs checks (DESIGN §5; Protocol Art. 10-11): every check as asked and answered, the serials
-- cleared per movement, this State's tally of what passed in transit or at import, and officers'
-- decisions on held checks.

CREATE TABLE customs_check (
    check_id        uuid        CONSTRAINT customs_check_pkey PRIMARY KEY,
    -- SHA-256 of the canonical request: the same check_id with another request is a conflict.
    fingerprint     bytea       NOT NULL CONSTRAINT customs_check_fingerprint_check CHECK (length(fingerprint) = 32),
    movement        text        NOT NULL CONSTRAINT customs_check_movement_check CHECK (movement IN ('export', 'transit', 'import')),
    issuing_state   text        NOT NULL,
    licence_number  text        NOT NULL,
    crossing_point  text        NOT NULL,
    shipment_id     text,
    request         jsonb       NOT NULL,
    verdict         text        NOT NULL CONSTRAINT customs_check_verdict_check CHECK (verdict IN ('clear', 'hold', 'refuse')),
    -- The answer exactly as first given: a replay returns these bytes' content unchanged.
    answer          jsonb       NOT NULL,
    checked_at      timestamptz NOT NULL,
    checked_by      text        NOT NULL
);
CREATE INDEX customs_check_licence_idx ON customs_check (issuing_state, licence_number, checked_at, check_id);

-- Serials that cleared, once per licence and movement: the database refuses a second clear.
CREATE TABLE cleared_serial (
    issuing_state   text        NOT NULL,
    licence_number  text        NOT NULL,
    movement        text        NOT NULL,
    serial          text        NOT NULL,
    line            integer     NOT NULL,
    check_id        uuid        NOT NULL CONSTRAINT cleared_serial_check_id_fkey REFERENCES customs_check (check_id) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT cleared_serial_pkey PRIMARY KEY (issuing_state, licence_number, movement, serial)
);
CREATE INDEX cleared_serial_serial_idx ON cleared_serial (serial);

-- What passed here per licence line and movement (transit and import keep their own tally; the
-- export ledger is the licence's own quantity ledger).
CREATE TABLE passage_tally (
    check_id        uuid        NOT NULL CONSTRAINT passage_tally_check_id_fkey REFERENCES customs_check (check_id) DEFERRABLE INITIALLY DEFERRED,
    issuing_state   text        NOT NULL,
    licence_number  text        NOT NULL,
    movement        text        NOT NULL,
    line            integer     NOT NULL,
    quantity        bigint      NOT NULL CONSTRAINT passage_tally_quantity_check CHECK (quantity >= 1),
    CONSTRAINT passage_tally_pkey PRIMARY KEY (check_id, line)
);
CREATE INDEX passage_tally_licence_idx ON passage_tally (issuing_state, licence_number, movement, line);

-- Every serial a check presented (cleared or not), for "checks by serial". Normalised form.
CREATE TABLE check_serial (
    serial          text        NOT NULL,
    check_id        uuid        NOT NULL CONSTRAINT check_serial_check_id_fkey REFERENCES customs_check (check_id) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT check_serial_pkey PRIMARY KEY (serial, check_id)
);

-- An officer's decision on a held check: release (then it debits as a clear would) or refuse.
CREATE TABLE check_decision (
    check_id        uuid        CONSTRAINT check_decision_pkey PRIMARY KEY
                                CONSTRAINT check_decision_check_id_fkey REFERENCES customs_check (check_id) DEFERRABLE INITIALLY DEFERRED,
    decision        text        NOT NULL CONSTRAINT check_decision_decision_check CHECK (decision IN ('release', 'refuse')),
    reason          text        NOT NULL CONSTRAINT check_decision_reason_check CHECK (length(reason) BETWEEN 1 AND 2000),
    decided_at      timestamptz NOT NULL,
    decided_by      text        NOT NULL
);

CREATE TRIGGER customs_check_append_only BEFORE UPDATE OR DELETE ON customs_check
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER cleared_serial_append_only BEFORE UPDATE OR DELETE ON cleared_serial
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER passage_tally_append_only BEFORE UPDATE OR DELETE ON passage_tally
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER check_serial_append_only BEFORE UPDATE OR DELETE ON check_serial
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER check_decision_append_only BEFORE UPDATE OR DELETE ON check_decision
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
