-- The same firearm registered twice under two spellings of its manufacturer, which 20261129191200 (no-break
-- spaces) and 20261129201000 (case mapping without locale) made one identity, was left as a stale generated
-- value: the later record kept its old manufacturer_key. pg_dump does not dump generated columns, so a restore
-- computed that key again and item_identity_key refused the pair: the backup of such a registry could not be
-- restored. A duplicate is now an explicit, durable fact: identity_duplicate_of names the item first
-- registered under the identity (the lowest item_id, as those migrations chose), identity is unique among the
-- items that are not duplicates, and every stored key is its name's again. Both records stay.
ALTER TABLE item ADD COLUMN identity_duplicate_of bigint
    CONSTRAINT item_identity_duplicate_of_fkey REFERENCES item (item_id)
    CONSTRAINT item_identity_duplicate_of_check CHECK (identity_duplicate_of <> item_id);

-- An item row is a record: only its status may change, and its identity_duplicate_of once, from NULL (a
-- record found to be another's duplicate stays one; nothing un-marks it).
CREATE OR REPLACE FUNCTION item_status_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    derived CONSTANT text[] := ARRAY['status', 'identity_class', 'manufacturer_key', 'serial_normalised',
                                     'serial_folded', 'identity_duplicate_of'];
BEGIN
    IF (to_jsonb(NEW) - derived) IS DISTINCT FROM (to_jsonb(OLD) - derived)
       OR (OLD.identity_duplicate_of IS NOT NULL
           AND NEW.identity_duplicate_of IS DISTINCT FROM OLD.identity_duplicate_of) THEN
        RAISE EXCEPTION 'table item: only status may change (and identity_duplicate_of once); record a correction event instead'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;

ALTER TABLE item DROP CONSTRAINT item_identity_key;

-- Every item of an identity (under today's normalise_manufacturer) but the first registered is marked a
-- duplicate of the first, journaled per item in this transaction (the sealer links the entries).
WITH grouped AS (
    SELECT item_id, identity_duplicate_of,
           min(item_id) OVER (PARTITION BY serial_normalised, identity_class, country_of_manufacture,
                                           normalise_manufacturer(manufacturer)) AS first_item_id
      FROM item
), marked AS (
    UPDATE item AS i
       SET identity_duplicate_of = g.first_item_id
      FROM grouped AS g
     WHERE i.item_id = g.item_id AND g.first_item_id <> g.item_id AND g.identity_duplicate_of IS NULL
    RETURNING i.item_id, i.identity_duplicate_of
), journaled AS (
    INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)
    SELECT now(), 'system:migration', 'item.identity-duplicate-marked', 'item', item_id::text,
           jsonb_build_object('identity_duplicate_of', identity_duplicate_of,
                              'migration', '20261129204000_mark_identity_duplicates.sql')
      FROM marked
     ORDER BY item_id
    RETURNING entry_id
)
INSERT INTO journal_pending (entry_id)
SELECT entry_id FROM journaled;

-- Every stale key computed again (a stored generated column is computed on UPDATE of what it reads).
UPDATE item SET manufacturer = manufacturer WHERE manufacturer_key <> normalise_manufacturer(manufacturer);

-- Identity among the items that are not duplicates (same name: errors are translated by it, and the
-- registration and the bulk import name its columns and predicate in ON CONFLICT).
CREATE UNIQUE INDEX item_identity_key
    ON item (serial_normalised, identity_class, manufacturer_key, country_of_manufacture)
    WHERE identity_duplicate_of IS NULL;
-- The look-ups by serial see every record, duplicates too: the partial identity index no longer serves them.
CREATE INDEX item_serial_normalised_idx ON item (serial_normalised);
CREATE INDEX item_identity_duplicate_of_idx ON item (identity_duplicate_of) WHERE identity_duplicate_of IS NOT NULL;
