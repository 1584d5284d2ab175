-- Lost and stolen reports received from partners (item.reported-missing, item.report-withdrawn: README "Notice
-- types beyond PROTOCOL §5"). Both tables are append-only: a report's current state is computed, never stored.
-- A report (sender_state, report_id) is open while its latest item.reported-missing (the highest sequence from
-- that sender) has no item.report-withdrawn of a higher sequence; a later report under the same id supersedes
-- the earlier one (a report withdrawn and reopened: a correction of the recovery). No UPDATE grant is needed.

CREATE TABLE foreign_item_report (
    sender_state           text        NOT NULL CONSTRAINT foreign_item_report_sender_state_check
                                       CHECK (sender_state ~ '^[A-Z]{2}$'),
    report_id              text        NOT NULL,
    notice_id              text        NOT NULL,
    sequence               bigint      NOT NULL,
    status                 text        NOT NULL CONSTRAINT foreign_item_report_status_check
                                       CHECK (status IN ('lost', 'stolen')),
    occurred_on            date        NOT NULL,
    kind                   text        NOT NULL CONSTRAINT foreign_item_report_kind_check
                                       CHECK (kind IN ('firearm', 'component', 'ammunition')),
    item_type              text,
    make                   text,
    model                  text,
    calibre                text,
    manufacturer           text        NOT NULL,
    country_of_manufacture text        NOT NULL,
    serial                 text        NOT NULL,
    markings               jsonb       NOT NULL,
    confidentiality        text        NOT NULL,
    received_at            timestamptz NOT NULL,
    -- the receiver's own identity forms (firearms/serials.py; item.manufacturer_key), not the sender's
    serial_normalised      text        NOT NULL GENERATED ALWAYS AS (normalise_serial(serial)) STORED,
    manufacturer_key       text        NOT NULL GENERATED ALWAYS AS (normalise_manufacturer(manufacturer)) STORED,
    make_key               text        GENERATED ALWAYS AS (normalise_manufacturer(make)) STORED,
    CONSTRAINT foreign_item_report_pkey PRIMARY KEY (sender_state, notice_id)
);
-- The customs check's look-up: by normalised serial (then kind and make, and the report's latest notice).
CREATE INDEX foreign_item_report_serial_idx ON foreign_item_report (serial_normalised);
CREATE INDEX foreign_item_report_report_idx ON foreign_item_report (sender_state, report_id, sequence);
CREATE TRIGGER foreign_item_report_append_only BEFORE UPDATE OR DELETE ON foreign_item_report
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER foreign_item_report_truncate_refused BEFORE TRUNCATE ON foreign_item_report
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

CREATE TABLE foreign_item_report_withdrawal (
    sender_state    text        NOT NULL,
    report_id       text        NOT NULL,
    notice_id       text        NOT NULL,
    sequence        bigint      NOT NULL,
    reason          text        NOT NULL CONSTRAINT foreign_item_report_withdrawal_reason_check
                                CHECK (reason IN ('recovered', 'seized', 'corrected')),
    occurred_on     date        NOT NULL,
    received_at     timestamptz NOT NULL,
    CONSTRAINT foreign_item_report_withdrawal_pkey PRIMARY KEY (sender_state, notice_id)
);
CREATE INDEX foreign_item_report_withdrawal_report_idx
    ON foreign_item_report_withdrawal (sender_state, report_id, sequence);
CREATE TRIGGER foreign_item_report_withdrawal_append_only BEFORE UPDATE OR DELETE ON foreign_item_report_withdrawal
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER foreign_item_report_withdrawal_truncate_refused BEFORE TRUNCATE ON foreign_item_report_withdrawal
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
