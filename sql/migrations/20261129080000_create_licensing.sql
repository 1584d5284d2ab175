-- Licensing (issue 4; DESIGN §3, PROTOCOL §5): parties and the Art. 15 broker register, licences
-- with their versions and lines, the quantity ledger, status history and transit consents.

-- Parties named on licences. Brokers are the Art. 15 register: a registration number, its validity
-- and a status; a broker that is not 'active' and valid today cannot be put on a new licence.
CREATE TABLE party (
    party_id        uuid        CONSTRAINT party_pkey PRIMARY KEY,
    kind            text        NOT NULL CONSTRAINT party_kind_check CHECK (kind IN
                        ('manufacturer', 'dealer', 'broker', 'exporter', 'importer', 'consignee',
                         'final-recipient', 'carrier')),
    name            text        NOT NULL CONSTRAINT party_name_check CHECK (length(name) BETWEEN 1 AND 500),
    country         text        NOT NULL CONSTRAINT party_country_check CHECK (country ~ '^[A-Z]{2}$'),
    address         text        NOT NULL CONSTRAINT party_address_check CHECK (length(address) BETWEEN 1 AND 500),
    registration    text        CONSTRAINT party_registration_check CHECK (length(registration) BETWEEN 1 AND 500),
    valid_from      date,
    expires_on      date,
    status          text        NOT NULL DEFAULT 'active'
                                CONSTRAINT party_status_check CHECK (status IN ('active', 'suspended', 'revoked')),
    created_at      timestamptz NOT NULL,
    created_by      text        NOT NULL,
    updated_at      timestamptz NOT NULL,
    CONSTRAINT party_validity_check CHECK (expires_on IS NULL OR valid_from IS NULL OR expires_on >= valid_from),
    CONSTRAINT party_broker_registration_check CHECK (kind <> 'broker' OR registration IS NOT NULL)
);
-- One entry per broker registration number in the register of one country.
CREATE UNIQUE INDEX party_broker_registration_key ON party (country, registration) WHERE kind = 'broker';
CREATE INDEX party_list_idx ON party (created_at, party_id);

-- Licence numbers are generated per kind and year: EXP/IMP/TRA/BRK, gapless within committed work.
CREATE TABLE licence_counter (
    kind            text        NOT NULL,
    year            integer     NOT NULL,
    last            integer     NOT NULL,
    CONSTRAINT licence_counter_pkey PRIMARY KEY (kind, year)
);

-- A licence: number unique per issuing State; its content is in licence_version (one row per version,
-- the old versions stay readable). Status and the current version's dates are kept here for look-ups.
-- origin 'local' = issued by this registry; 'received' = a partner's licence received by notice.
CREATE TABLE licence (
    licence_id      uuid        CONSTRAINT licence_pkey PRIMARY KEY,
    issuing_state   text        NOT NULL CONSTRAINT licence_issuing_state_check CHECK (issuing_state ~ '^[A-Z]{2}$'),
    number          text        NOT NULL,
    kind            text        NOT NULL CONSTRAINT licence_kind_check CHECK (kind IN ('export', 'import', 'transit', 'brokering')),
    origin          text        NOT NULL DEFAULT 'local' CONSTRAINT licence_origin_check CHECK (origin IN ('local', 'received')),
    status          text        NOT NULL CONSTRAINT licence_status_check CHECK (status IN
                        ('draft', 'pending', 'issued', 'suspended', 'revoked', 'expired', 'exhausted')),
    version         integer     NOT NULL CONSTRAINT licence_version_check CHECK (version >= 1),
    valid_from      date        NOT NULL,
    expires_on      date        NOT NULL,
    exporting_state text        NOT NULL,
    importing_state text        NOT NULL,
    transit_states  text[]      NOT NULL,
    issued_at       timestamptz,
    created_at      timestamptz NOT NULL,
    created_by      text        NOT NULL,
    updated_at      timestamptz NOT NULL,
    CONSTRAINT licence_number_key UNIQUE (issuing_state, number),
    CONSTRAINT licence_validity_check CHECK (expires_on >= valid_from)
);
CREATE INDEX licence_list_idx ON licence (created_at, licence_id);
-- The expiry timer looks for live licences past their date.
CREATE INDEX licence_expiry_idx ON licence (expires_on) WHERE status IN ('issued', 'suspended');

-- Every version of a licence, as the licence object of PROTOCOL §5 (content without status, which
-- lives on licence). Append-only except that a version is signed once, when it is issued.
CREATE TABLE licence_version (
    licence_id      uuid        NOT NULL CONSTRAINT licence_version_licence_id_fkey REFERENCES licence (licence_id),
    version         integer     NOT NULL,
    content         jsonb       NOT NULL,
    exporter_id     uuid        CONSTRAINT licence_version_exporter_id_fkey REFERENCES party (party_id),
    consignee_id    uuid        CONSTRAINT licence_version_consignee_id_fkey REFERENCES party (party_id),
    final_recipient_id uuid     CONSTRAINT licence_version_final_recipient_id_fkey REFERENCES party (party_id),
    broker_ids      uuid[]      NOT NULL DEFAULT '{}',
    reason          text,
    created_at      timestamptz NOT NULL,
    created_by      text        NOT NULL,
    issued_at       timestamptz,
    key_id          text        CONSTRAINT licence_version_key_id_fkey REFERENCES registry_key (key_id),
    signature       bytea,
    CONSTRAINT licence_version_pkey PRIMARY KEY (licence_id, version),
    CONSTRAINT licence_version_signed_check CHECK ((issued_at IS NULL) = (signature IS NULL) AND (signature IS NULL) = (key_id IS NULL))
);

CREATE FUNCTION licence_version_sign_once() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR OLD.signature IS NOT NULL
       OR (NEW.licence_id, NEW.version, NEW.content, NEW.created_at, NEW.created_by)
          IS DISTINCT FROM (OLD.licence_id, OLD.version, OLD.content, OLD.created_at, OLD.created_by) THEN
        RAISE EXCEPTION 'licence_version is append-only: a version is only signed once'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER licence_version_append_only BEFORE UPDATE OR DELETE ON licence_version
    FOR EACH ROW EXECUTE FUNCTION licence_version_sign_once();

-- The current lines of a licence with their issued quantity: the quantity ledger's base. A line keeps
-- its number across versions; an amendment may change its quantity but never below what was debited.
CREATE TABLE licence_line (
    licence_id      uuid        NOT NULL CONSTRAINT licence_line_licence_id_fkey REFERENCES licence (licence_id),
    line            integer     NOT NULL CONSTRAINT licence_line_line_check CHECK (line BETWEEN 1 AND 9999),
    category        text        NOT NULL CONSTRAINT licence_line_category_check CHECK (category IN ('firearm', 'component', 'ammunition')),
    quantity        bigint      NOT NULL CONSTRAINT licence_line_quantity_check CHECK (quantity >= 0),
    serials         text[]      NOT NULL DEFAULT '{}',
    CONSTRAINT licence_line_pkey PRIMARY KEY (licence_id, line)
);

-- The quantity ledger (DESIGN §3): append-only debits. Balance = issued quantity - sum(debits).
CREATE TABLE ledger_entry (
    ledger_entry_id bigint      GENERATED ALWAYS AS IDENTITY CONSTRAINT ledger_entry_pkey PRIMARY KEY,
    licence_id      uuid        NOT NULL,
    line            integer     NOT NULL,
    quantity        bigint      NOT NULL CONSTRAINT ledger_entry_quantity_check CHECK (quantity >= 1),
    serials         text[]      NOT NULL DEFAULT '{}',
    check_id        uuid        NOT NULL,
    customs_document text       NOT NULL CONSTRAINT ledger_entry_customs_document_check CHECK (length(customs_document) BETWEEN 1 AND 200),
    recorded_at     timestamptz NOT NULL,
    recorded_by     text        NOT NULL,
    CONSTRAINT ledger_entry_line_fkey FOREIGN KEY (licence_id, line) REFERENCES licence_line (licence_id, line),
    -- one check debits one line once: a replayed check never debits twice
    CONSTRAINT ledger_entry_check_line_key UNIQUE (check_id, licence_id, line)
);
CREATE INDEX ledger_entry_line_idx ON ledger_entry (licence_id, line);

-- Each firearm serial is debited at most once per licence.
CREATE TABLE ledger_serial (
    licence_id      uuid        NOT NULL,
    serial          text        NOT NULL,
    line            integer     NOT NULL,
    ledger_entry_id bigint      NOT NULL CONSTRAINT ledger_serial_ledger_entry_id_fkey REFERENCES ledger_entry (ledger_entry_id),
    CONSTRAINT ledger_serial_pkey PRIMARY KEY (licence_id, serial)
);

-- Every status change, with actor and reason (the journal has it too; this is the licence's history).
CREATE TABLE licence_event (
    licence_event_id bigint     GENERATED ALWAYS AS IDENTITY CONSTRAINT licence_event_pkey PRIMARY KEY,
    licence_id      uuid        NOT NULL CONSTRAINT licence_event_licence_id_fkey REFERENCES licence (licence_id),
    version         integer     NOT NULL,
    from_status     text,
    to_status       text        NOT NULL,
    reason          text        NOT NULL,
    actor           text        NOT NULL,
    occurred_at     timestamptz NOT NULL
);
CREATE INDEX licence_event_licence_idx ON licence_event (licence_id, licence_event_id);

-- Transit consent (DESIGN §3): requests to transit States and their decisions. Decisions are
-- recorded by an officer now ('officer'), received by notice later ('notice'), or deemed by the
-- worker after the silent period ('timer'). The latest decision per (licence, State) counts.
CREATE TABLE transit_consent_request (
    licence_id      uuid        NOT NULL CONSTRAINT transit_consent_request_licence_id_fkey REFERENCES licence (licence_id),
    transit_state   text        NOT NULL CONSTRAINT transit_consent_request_state_check CHECK (transit_state ~ '^[A-Z]{2}$'),
    requested_on    date        NOT NULL,
    shipment_from   date,
    shipment_to     date,
    requested_at    timestamptz NOT NULL,
    requested_by    text        NOT NULL,
    CONSTRAINT transit_consent_request_pkey PRIMARY KEY (licence_id, transit_state)
);

CREATE TABLE transit_consent (
    transit_consent_id bigint   GENERATED ALWAYS AS IDENTITY CONSTRAINT transit_consent_pkey PRIMARY KEY,
    licence_id      uuid        NOT NULL CONSTRAINT transit_consent_licence_id_fkey REFERENCES licence (licence_id),
    transit_state   text        NOT NULL CONSTRAINT transit_consent_state_check CHECK (transit_state ~ '^[A-Z]{2}$'),
    decision        text        NOT NULL CONSTRAINT transit_consent_decision_check CHECK (decision IN ('no-objection', 'objection', 'deemed')),
    decided_on      date        NOT NULL,
    valid_until     date,
    reason          text,
    source          text        NOT NULL CONSTRAINT transit_consent_source_check CHECK (source IN ('officer', 'notice', 'timer')),
    recorded_at     timestamptz NOT NULL,
    recorded_by     text        NOT NULL
);
CREATE INDEX transit_consent_licence_idx ON transit_consent (licence_id, transit_state, transit_consent_id);

-- Printable documents, rendered once per licence version (DESIGN §8).
CREATE TABLE licence_document (
    licence_id      uuid        NOT NULL,
    version         integer     NOT NULL,
    html            text        NOT NULL,
    verification_code text      NOT NULL,
    rendered_at     timestamptz NOT NULL,
    CONSTRAINT licence_document_pkey PRIMARY KEY (licence_id, version),
    CONSTRAINT licence_document_version_fkey FOREIGN KEY (licence_id, version) REFERENCES licence_version (licence_id, version)
);

CREATE TRIGGER ledger_entry_append_only BEFORE UPDATE OR DELETE ON ledger_entry
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER ledger_serial_append_only BEFORE UPDATE OR DELETE ON ledger_serial
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER licence_event_append_only BEFORE UPDATE OR DELETE ON licence_event
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER transit_consent_append_only BEFORE UPDATE OR DELETE ON transit_consent
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER licence_document_append_only BEFORE UPDATE OR DELETE ON licence_document
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
