-- Corrections of an item's descriptive data and of its markings (DESIGN §3: a correction is a new record that
-- names what it corrects and why). Before, a `corrected` event could undo an event or the registration record as a
-- whole, but a mistyped model, year, calibre, make or marking stayed wrong for good.
--
-- A correction is a row of item_correction (append-only): the item, the marking (NULL: the item's own fields), for
-- each field its value before and after ({"model": {"before": "SSG 80", "after": "SSG 08"}}), the reason, who and
-- when. The item or marking row then holds the value after, as the item row holds the status its events give:
-- every read (the item, the lists, the search, the export, the customs checks, the certificate) shows the current
-- values, and the history shows every correction with both. The database holds the row to its corrections:
--   * a correction's "before" is the value the row holds when it is written, its "after" another value;
--   * only the correctable columns change (identity -- kind, component type, manufacturer, country, serial -- and
--     the category, which deactivations move, never do), and at commit each changed column is the "after" of the
--     latest correction naming it: a bare UPDATE, or a correction written without moving the row, is refused.

CREATE TABLE item_correction (
    correction_id   bigint      GENERATED ALWAYS AS IDENTITY CONSTRAINT item_correction_pkey PRIMARY KEY,
    item_id         bigint      NOT NULL CONSTRAINT item_correction_item_id_fkey REFERENCES item (item_id),
    marking_id      bigint      CONSTRAINT item_correction_marking_id_fkey REFERENCES marking (marking_id),
    changes         jsonb       NOT NULL,
    reason          text        NOT NULL CONSTRAINT item_correction_reason_check CHECK (length(reason) BETWEEN 1 AND 2000),
    recorded_at     timestamptz NOT NULL,
    recorded_by     text        NOT NULL,
    CONSTRAINT item_correction_changes_check CHECK (
        jsonb_typeof(changes) = 'object' AND changes <> '{}'::jsonb
        AND CASE WHEN marking_id IS NULL
                 THEN changes - ARRAY['make', 'model', 'calibre', 'year_of_manufacture', 'firearm_type', 'headstamp',
                                      'quantity'] = '{}'::jsonb
                 ELSE changes - ARRAY['stamped', 'manufacturer', 'place', 'country', 'serial', 'year', 'model',
                                      'symbol_code', 'alphanumeric_code'] = '{}'::jsonb
            END)
);
CREATE INDEX item_correction_item_id_idx ON item_correction (item_id, correction_id);

CREATE TRIGGER item_correction_append_only BEFORE UPDATE OR DELETE ON item_correction
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER item_correction_truncate_refused BEFORE TRUNCATE ON item_correction
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();

-- A correction names a marking of its own item, and each field's value before is what the row holds now.
CREATE FUNCTION item_correction_rule() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    target jsonb;
    field  text;
    change jsonb;
BEGIN
    IF NEW.marking_id IS NULL THEN
        SELECT to_jsonb(i) INTO target FROM item AS i WHERE i.item_id = NEW.item_id;
    ELSE
        SELECT to_jsonb(m) INTO target FROM marking AS m WHERE m.marking_id = NEW.marking_id AND m.item_id = NEW.item_id;
        IF target IS NULL THEN
            RAISE EXCEPTION 'item_correction: marking % is not a marking of item %', NEW.marking_id, NEW.item_id
                USING ERRCODE = 'restrict_violation';
        END IF;
    END IF;
    FOR field, change IN SELECT key, value FROM jsonb_each(NEW.changes) LOOP
        IF jsonb_typeof(change) <> 'object' OR NOT change ? 'before' OR NOT change ? 'after'
           OR (change - ARRAY['before', 'after']) <> '{}'::jsonb
           OR change -> 'before' = change -> 'after'
           OR target -> field IS DISTINCT FROM change -> 'before' THEN
            RAISE EXCEPTION 'item_correction: % of % is %, not the "before" of %', field,
                coalesce('marking ' || NEW.marking_id, 'item ' || NEW.item_id), target -> field, change
                USING ERRCODE = 'restrict_violation';
        END IF;
    END LOOP;
    RETURN NEW;
END;
$$;
CREATE TRIGGER item_correction_rule BEFORE INSERT ON item_correction
    FOR EACH ROW EXECUTE FUNCTION item_correction_rule();

-- At commit: each named column of the item (marking_id NULL) or marking is the "after" of its latest correction.
CREATE FUNCTION corrected_fields_follow(corrected_item bigint, corrected_marking bigint, fields text[])
    RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    current jsonb;
    latest  jsonb;
    field   text;
BEGIN
    IF corrected_marking IS NULL THEN
        SELECT to_jsonb(i) INTO current FROM item AS i WHERE i.item_id = corrected_item;
    ELSE
        SELECT to_jsonb(m) INTO current FROM marking AS m WHERE m.marking_id = corrected_marking;
    END IF;
    FOREACH field IN ARRAY fields LOOP
        SELECT c.changes -> field -> 'after' INTO latest
          FROM item_correction AS c
         WHERE c.item_id = corrected_item AND c.marking_id IS NOT DISTINCT FROM corrected_marking AND c.changes ? field
         ORDER BY c.correction_id DESC LIMIT 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION '%: % changed without a correction; record one (POST .../corrections)',
                coalesce('marking ' || corrected_marking, 'item ' || corrected_item), field
                USING ERRCODE = 'restrict_violation';
        END IF;
        IF current -> field IS DISTINCT FROM latest THEN
            RAISE EXCEPTION '%: % is %, not what its latest correction gives (%)',
                coalesce('marking ' || corrected_marking, 'item ' || corrected_item), field, current -> field, latest
                USING ERRCODE = 'restrict_violation';
        END IF;
    END LOOP;
END;
$$;

CREATE FUNCTION item_correction_moves_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM corrected_fields_follow(NEW.item_id, NEW.marking_id, ARRAY(SELECT jsonb_object_keys(NEW.changes)));
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER item_correction_moves_row AFTER INSERT ON item_correction
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION item_correction_moves_row();

-- The columns an UPDATE changed among those given.
CREATE FUNCTION changed_columns(old_row jsonb, new_row jsonb, columns text[]) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN ARRAY(SELECT c FROM unnest(columns) AS c WHERE old_row -> c IS DISTINCT FROM new_row -> c);

CREATE FUNCTION item_fields_follow_corrections() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'item' THEN
        PERFORM corrected_fields_follow(NEW.item_id, NULL, changed_columns(to_jsonb(OLD), to_jsonb(NEW),
            ARRAY['make', 'model', 'calibre', 'year_of_manufacture', 'firearm_type', 'headstamp', 'quantity']));
    ELSE
        PERFORM corrected_fields_follow(NEW.item_id, NEW.marking_id, changed_columns(to_jsonb(OLD), to_jsonb(NEW),
            ARRAY['stamped', 'manufacturer', 'place', 'country', 'serial', 'year', 'model', 'symbol_code',
                  'alphanumeric_code']));
    END IF;
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER item_fields_follow_corrections
    AFTER UPDATE OF make, model, calibre, year_of_manufacture, firearm_type, headstamp, quantity ON item
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION item_fields_follow_corrections();
CREATE CONSTRAINT TRIGGER marking_fields_follow_corrections
    AFTER UPDATE ON marking
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION item_fields_follow_corrections();

-- An item row is a record: its status and category follow its events, its descriptive fields its corrections
-- (checked at commit above), its identity_duplicate_of is set once (item_identity_duplicate_of_rule).
CREATE OR REPLACE FUNCTION item_status_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    derived CONSTANT text[] := ARRAY['status', 'category', 'identity_class', 'manufacturer_key',
                                     'serial_normalised', 'serial_folded', 'identity_duplicate_of',
                                     'make', 'model', 'calibre', 'year_of_manufacture', 'firearm_type', 'headstamp',
                                     'quantity'];
BEGIN
    IF (to_jsonb(NEW) - derived) IS DISTINCT FROM (to_jsonb(OLD) - derived)
       OR (OLD.identity_duplicate_of IS NOT NULL
           AND NEW.identity_duplicate_of IS DISTINCT FROM OLD.identity_duplicate_of) THEN
        RAISE EXCEPTION 'table item: only status and category (events), descriptive fields (corrections) and identity_duplicate_of (once) may change'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;

-- A marking row: only its parsed fields and its text as stamped change, each by a correction (checked at commit).
CREATE FUNCTION marking_corrected_fields_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    correctable CONSTANT text[] := ARRAY['stamped', 'manufacturer', 'place', 'country', 'serial', 'year', 'model',
                                         'symbol_code', 'alphanumeric_code'];
BEGIN
    IF (to_jsonb(NEW) - correctable) IS DISTINCT FROM (to_jsonb(OLD) - correctable) THEN
        RAISE EXCEPTION 'table marking: only its text and parsed fields change, by a correction'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;
DROP TRIGGER marking_append_only ON marking;
CREATE TRIGGER marking_no_delete BEFORE DELETE ON marking FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER marking_corrected_fields_only BEFORE UPDATE ON marking
    FOR EACH ROW EXECUTE FUNCTION marking_corrected_fields_only();
