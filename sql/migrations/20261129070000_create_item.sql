-- Records (Protocol Art. 7-8; ITI paras 8-12; Dir. 2021/555 Art. 4): items, their markings, their lifecycle
-- events and bulk-import batches. Serial normalisation lives here, once, as immutable functions, so the API,
-- the bulk import and the look-ups can never disagree about an item's identity.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Identity form of a serial: upper case, separators (space - . / _) removed. Serials are restricted to
-- Latin letters, Arabic numerals and those separators, so upper() is locale-independent here.
CREATE FUNCTION normalise_serial(serial text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN upper(translate(serial, ' -./_', ''));

-- Search form: the normalised serial with confusable characters folded (O->0, I->1, L->1, S->5, B->8, Z->2).
-- A folded match is a candidate for a person to look at, never an identity.
CREATE FUNCTION fold_serial(serial text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN translate(upper(translate(serial, ' -./_', '')), 'OILSBZ', '011582');

-- Identity form of a manufacturer's name: upper case, runs of white space collapsed.
CREATE FUNCTION normalise_manufacturer(manufacturer text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN upper(regexp_replace(manufacturer, '\s+', ' ', 'g'));

-- One bulk-import batch (one file): its digest and counts. The rows it created point back at it.
CREATE TABLE item_import (
    import_id           bigint      GENERATED ALWAYS AS IDENTITY CONSTRAINT item_import_pkey PRIMARY KEY,
    file_name           text        NOT NULL,
    format              text        NOT NULL CONSTRAINT item_import_format_check CHECK (format IN ('csv', 'ndjson')),
    sha256              bytea       NOT NULL CONSTRAINT item_import_sha256_check CHECK (length(sha256) = 32),
    rows_read           integer     NOT NULL,
    inserted            integer     NOT NULL,
    already_registered  integer     NOT NULL,
    rejected            integer     NOT NULL,
    imported_at         timestamptz NOT NULL,
    imported_by         text        NOT NULL
);

CREATE TABLE item (
    item_id                 bigint      GENERATED ALWAYS AS IDENTITY CONSTRAINT item_pkey PRIMARY KEY,
    kind                    text        NOT NULL
                            CONSTRAINT item_kind_check CHECK (kind IN ('firearm', 'component', 'ammunition')),
    firearm_type            text        CONSTRAINT item_firearm_type_check CHECK (firearm_type IN
                                ('pistol', 'revolver', 'rifle', 'shotgun', 'sub-machine-gun', 'machine-gun',
                                 'combination', 'other')),
    component_type          text        CONSTRAINT item_component_type_check CHECK (component_type IN
                                ('barrel', 'frame', 'receiver', 'slide', 'cylinder', 'bolt', 'breech-block',
                                 'sound-moderator')),
    parent_item_id          bigint      CONSTRAINT item_parent_item_id_fkey REFERENCES item (item_id),
    make                    text,
    model                   text,
    calibre                 text,
    year_of_manufacture     smallint    CONSTRAINT item_year_of_manufacture_check
                                        CHECK (year_of_manufacture BETWEEN 1300 AND 9999),
    country_of_manufacture  text        NOT NULL
                            CONSTRAINT item_country_of_manufacture_check CHECK (country_of_manufacture ~ '^[A-Z]{2}$'),
    category                text        CONSTRAINT item_category_check CHECK (category IN ('A', 'B', 'C', 'D', 'antique')),
    manufacturer            text        NOT NULL,
    serial                  text        NOT NULL
                            CONSTRAINT item_serial_check CHECK (serial ~ '^[A-Za-z0-9 ./_-]{1,64}$'),
    headstamp               text,
    quantity                integer     CONSTRAINT item_quantity_check CHECK (quantity > 0),
    status                  text        NOT NULL DEFAULT 'active'
                            CONSTRAINT item_status_check CHECK (status IN
                                ('active', 'lost', 'stolen', 'seized', 'destroyed', 'exported', 'deactivated')),
    registered_at           timestamptz NOT NULL,
    registered_by           text        NOT NULL,
    -- The batch that created the row (no foreign key: the import writes both in one transaction, and a
    -- per-row key check would cost a bulk import about a sixth of its time).
    import_id               bigint,
    -- A frame and its barrel often carry the same serial: identity is per kind (and component type).
    identity_class          text        NOT NULL GENERATED ALWAYS AS (
                                CASE WHEN kind = 'component' THEN 'component:' || component_type ELSE kind END) STORED,
    manufacturer_key        text        NOT NULL GENERATED ALWAYS AS (normalise_manufacturer(manufacturer)) STORED,
    serial_normalised       text        NOT NULL GENERATED ALWAYS AS (normalise_serial(serial)) STORED,
    serial_folded           text        NOT NULL GENERATED ALWAYS AS (fold_serial(serial)) STORED,
    CONSTRAINT item_kind_fields_check CHECK (
        (kind = 'firearm' AND firearm_type IS NOT NULL AND component_type IS NULL AND quantity IS NULL)
        OR (kind = 'component' AND component_type IS NOT NULL AND firearm_type IS NULL AND quantity IS NULL)
        OR (kind = 'ammunition' AND firearm_type IS NULL AND component_type IS NULL AND quantity IS NOT NULL)),
    CONSTRAINT item_antique_check CHECK (category <> 'antique' OR year_of_manufacture < 1900),
    CONSTRAINT item_serial_normalised_check CHECK (serial_normalised <> ''),
    -- Leading serial_normalised: the identity index is also the exact look-up index.
    CONSTRAINT item_identity_key UNIQUE (serial_normalised, identity_class, manufacturer_key, country_of_manufacture)
);
-- Customs checks ask "is this serial reported lost or stolen?": one look-up in a small partial index.
CREATE INDEX item_reported_idx ON item (serial_normalised) WHERE status IN ('lost', 'stolen');
CREATE INDEX item_serial_folded_trgm_idx ON item USING gin (serial_folded gin_trgm_ops);
CREATE INDEX item_parent_item_id_idx ON item (parent_item_id) WHERE parent_item_id IS NOT NULL;

-- An item row is a record: only its current status (derived from its events) may change. Generated columns
-- are left out of the comparison (NEW does not hold them yet in a BEFORE trigger; they follow the others).
CREATE FUNCTION item_status_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    derived CONSTANT text[] := ARRAY['status', 'identity_class', 'manufacturer_key', 'serial_normalised',
                                     'serial_folded'];
BEGIN
    IF (to_jsonb(NEW) - derived) IS DISTINCT FROM (to_jsonb(OLD) - derived) THEN
        RAISE EXCEPTION 'table item: only status may change; record a correction event instead'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER item_status_only BEFORE UPDATE ON item FOR EACH ROW EXECUTE FUNCTION item_status_only();
CREATE TRIGGER item_no_delete BEFORE DELETE ON item FOR EACH ROW EXECUTE FUNCTION forbid_change();

-- Markings (Art. 8; ITI paras 8-10): the text exactly as stamped plus the parsed fields of its kind.
CREATE TABLE marking (
    marking_id          bigint      GENERATED ALWAYS AS IDENTITY CONSTRAINT marking_pkey PRIMARY KEY,
    item_id             bigint      NOT NULL CONSTRAINT marking_item_id_fkey REFERENCES item (item_id),
    kind                text        NOT NULL CONSTRAINT marking_kind_check CHECK (kind IN
                            ('manufacture', 'geometric', 'import', 'state-to-civilian', 'proof', 'deactivation')),
    stamped             text        NOT NULL CONSTRAINT marking_stamped_check CHECK (length(stamped) BETWEEN 1 AND 500),
    manufacturer        text,
    place               text,
    country             text        CONSTRAINT marking_country_check CHECK (country ~ '^[A-Z]{2}$'),
    serial              text,
    year                smallint    CONSTRAINT marking_year_check CHECK (year BETWEEN 1300 AND 9999),
    model               text,
    symbol_code         text,
    alphanumeric_code   text,
    recorded_at         timestamptz NOT NULL,
    recorded_by         text        NOT NULL,
    import_id           bigint,
    CONSTRAINT marking_geometric_check CHECK (
        kind <> 'geometric' OR (symbol_code IS NOT NULL AND alphanumeric_code IS NOT NULL)),
    CONSTRAINT marking_country_required_check CHECK (
        kind NOT IN ('import', 'state-to-civilian') OR country IS NOT NULL)
);
CREATE INDEX marking_item_id_idx ON marking (item_id, marking_id);

-- Lifecycle events. Registration itself is the item row; every later change is an event here.
CREATE TABLE item_event (
    event_id            bigint      GENERATED ALWAYS AS IDENTITY CONSTRAINT item_event_pkey PRIMARY KEY,
    item_id             bigint      NOT NULL CONSTRAINT item_event_item_id_fkey REFERENCES item (item_id),
    event               text        NOT NULL CONSTRAINT item_event_event_check CHECK (event IN
                            ('transferred', 'lost', 'stolen', 'recovered', 'seized', 'destroyed', 'exported',
                             'imported', 'deactivated', 'corrected')),
    status_before       text        NOT NULL,
    status_after        text        NOT NULL,
    occurred_on         date        NOT NULL,
    from_party          text,
    to_party            text,
    document            text,
    country             text        CONSTRAINT item_event_country_check CHECK (country ~ '^[A-Z]{2}$'),
    temporary           boolean     NOT NULL DEFAULT false,
    from_state_stocks   boolean     NOT NULL DEFAULT false,
    purpose             text,
    corrects_event_id   bigint      CONSTRAINT item_event_corrects_event_id_fkey REFERENCES item_event (event_id),
    reason              text,
    note                text,
    recorded_at         timestamptz NOT NULL,
    recorded_by         text        NOT NULL,
    CONSTRAINT item_event_corrected_check CHECK (event <> 'corrected' OR reason IS NOT NULL)
);
CREATE INDEX item_event_item_id_idx ON item_event (item_id, event_id);

CREATE TRIGGER item_import_append_only BEFORE UPDATE OR DELETE ON item_import
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER marking_append_only BEFORE UPDATE OR DELETE ON marking
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER item_event_append_only BEFORE UPDATE OR DELETE ON item_event
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
