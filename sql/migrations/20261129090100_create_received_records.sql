-- What partners told this registry (PROTOCOL §5): their licences, shipments, transit-consent requests and decisions.
-- Each row keeps the confidentiality of the notice it came from (Art. 12(5)).

-- Licences issued by other States, as last received (a later version supersedes; status changes apply at once).
CREATE TABLE foreign_licence (
    issuing_state       text        NOT NULL CONSTRAINT foreign_licence_issuing_state_check CHECK (issuing_state ~ '^[A-Z]{2}$'),
    number              text        NOT NULL,
    kind                text        NOT NULL CONSTRAINT foreign_licence_kind_check
                                    CHECK (kind IN ('export', 'import', 'transit', 'brokering')),
    version             integer     NOT NULL CONSTRAINT foreign_licence_version_check CHECK (version >= 1),
    status              text        NOT NULL CONSTRAINT foreign_licence_status_check
                                    CHECK (status IN ('pending', 'issued', 'suspended', 'revoked', 'expired', 'exhausted')),
    status_reason       text,
    status_effective_at timestamptz,
    licence             jsonb       NOT NULL,
    confidentiality     text        NOT NULL CONSTRAINT foreign_licence_confidentiality_check
                                    CHECK (confidentiality IN ('public', 'restricted', 'confidential')),
    notice_id           text        NOT NULL,
    received_at         timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    CONSTRAINT foreign_licence_pkey PRIMARY KEY (issuing_state, number)
);
CREATE INDEX foreign_licence_kind_idx ON foreign_licence (kind, issuing_state, number);

-- A shipment under a licence, as the notices about it tell: dispatch, confirmation request, receipt.
CREATE TABLE shipment_record (
    exporting_state           text        NOT NULL,
    shipment_id               text        NOT NULL,
    licence_number            text        NOT NULL,
    issuing_state             text        NOT NULL,
    dispatched_at             timestamptz,
    items                     jsonb,
    confirmation_requested_at timestamptz,
    received_on               date,
    customs_document          text,
    received_items            jsonb,
    confirmed_by              text,
    confidentiality           text        NOT NULL,
    updated_at                timestamptz NOT NULL,
    CONSTRAINT shipment_record_pkey PRIMARY KEY (exporting_state, shipment_id)
);
CREATE INDEX shipment_record_licence_idx ON shipment_record (issuing_state, licence_number);

-- Border passages reported by transit States (transit.passage-recorded); one per (reporting State, check).
CREATE TABLE shipment_passage (
    recorded_by     text        NOT NULL,
    check_id        text        NOT NULL,
    licence_number  text        NOT NULL,
    issuing_state   text        NOT NULL,
    shipment_id     text,
    verdict         text        NOT NULL,
    reasons         jsonb       NOT NULL,
    checked_at      timestamptz NOT NULL,
    crossing_point  text        NOT NULL,
    items           jsonb       NOT NULL,
    confidentiality text        NOT NULL,
    notice_id       text        NOT NULL,
    received_at     timestamptz NOT NULL,
    CONSTRAINT shipment_passage_pkey PRIMARY KEY (recorded_by, check_id)
);
CREATE INDEX shipment_passage_licence_idx ON shipment_passage (issuing_state, licence_number);
CREATE TRIGGER shipment_passage_append_only BEFORE UPDATE OR DELETE ON shipment_passage
    FOR EACH ROW EXECUTE FUNCTION forbid_change();

-- Transit-consent requests received from exporting States, pre-checked, waiting for this State's officer.
CREATE TABLE consent_request_received (
    requesting_state text        NOT NULL,
    notice_id        text        NOT NULL,
    licence_number   text        NOT NULL,
    licence          jsonb       NOT NULL,
    window_from      date        NOT NULL,
    window_to        date        NOT NULL,
    findings         jsonb       NOT NULL,
    confidentiality  text        NOT NULL,
    received_at      timestamptz NOT NULL,
    status           text        NOT NULL DEFAULT 'pending'
                                 CONSTRAINT consent_request_received_status_check CHECK (status IN ('pending', 'decided')),
    decision         text        CONSTRAINT consent_request_received_decision_check
                                 CHECK (decision IN ('no-objection', 'objection')),
    reason           text,
    valid_until      date,
    decided_by       text,
    decided_at       timestamptz,
    reply_notice_id  uuid,
    CONSTRAINT consent_request_received_pkey PRIMARY KEY (requesting_state, notice_id)
);
CREATE INDEX consent_request_received_pending_idx ON consent_request_received (received_at) WHERE status = 'pending';

-- Transit-consent decisions received from transit States (answers to this State's requests).
CREATE TABLE consent_decision_received (
    transit_state   text        NOT NULL,
    notice_id       text        NOT NULL,
    in_reply_to     text,
    licence_number  text        NOT NULL,
    decision        text        NOT NULL CONSTRAINT consent_decision_received_decision_check
                                CHECK (decision IN ('no-objection', 'objection')),
    reason          text,
    valid_until     date,
    received_at     timestamptz NOT NULL,
    CONSTRAINT consent_decision_received_pkey PRIMARY KEY (transit_state, notice_id)
);
CREATE INDEX consent_decision_received_licence_idx ON consent_decision_received (licence_number);
CREATE TRIGGER consent_decision_received_append_only BEFORE UPDATE OR DELETE ON consent_decision_received
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
