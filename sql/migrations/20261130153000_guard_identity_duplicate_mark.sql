-- identity_duplicate_of takes an item out of the identity index (item_identity_key is unique WHERE it is NULL), and
-- item_status_only let it be set once, from NULL, to any item: a bare UPDATE marking a firearm a duplicate of an
-- unrelated item freed its identity, which could then be registered again. A mark is what a migration finds
-- (20261129204000; README "Identity"): the later record of one identity names the first. The database now takes
-- nothing else, on INSERT as on UPDATE: the item named is earlier (a lower item_id, as the migrations chose), is
-- itself no duplicate, and has the same identity -- kind (and component type), country of manufacture, serial and
-- manufacturer, compared through normalise_serial and normalise_manufacturer as they are now, since a migration
-- that changes them marks before it computes the stored keys again. Once set, a mark is never cleared or changed.
-- A mark naming the item itself is left to item_identity_duplicate_of_check. Marks set before this migration are
-- not judged again (records are append-only; README "Identity" gives the query that lists any breaking the rule).
-- pg_dump creates triggers after the data: a restore is not judged row by row in the order of the dump.
CREATE FUNCTION item_identity_duplicate_of_rule() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    first item%ROWTYPE;
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.identity_duplicate_of IS NOT NULL THEN
        RAISE EXCEPTION 'table item: item % is marked a duplicate of item %: the mark is never cleared or changed',
            OLD.item_id, OLD.identity_duplicate_of USING ERRCODE = 'restrict_violation';
    END IF;
    IF NEW.identity_duplicate_of IS NULL OR NEW.identity_duplicate_of = NEW.item_id THEN
        RETURN NEW;
    END IF;
    SELECT * INTO first FROM item WHERE item_id = NEW.identity_duplicate_of;
    IF NOT FOUND
       OR first.item_id > NEW.item_id
       OR first.identity_duplicate_of IS NOT NULL
       OR first.kind <> NEW.kind
       OR first.component_type IS DISTINCT FROM NEW.component_type
       OR first.country_of_manufacture <> NEW.country_of_manufacture
       OR normalise_serial(first.serial) <> normalise_serial(NEW.serial)
       OR normalise_manufacturer(first.manufacturer) <> normalise_manufacturer(NEW.manufacturer) THEN
        RAISE EXCEPTION 'table item: item % may be marked a duplicate only of the item first registered under its identity (earlier, no duplicate itself, the same kind, manufacturer, country and serial); item % is not',
            NEW.item_id, NEW.identity_duplicate_of USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER item_identity_duplicate_of_on_insert BEFORE INSERT ON item
    FOR EACH ROW WHEN (NEW.identity_duplicate_of IS NOT NULL) EXECUTE FUNCTION item_identity_duplicate_of_rule();
CREATE TRIGGER item_identity_duplicate_of_on_update BEFORE UPDATE ON item
    FOR EACH ROW WHEN (NEW.identity_duplicate_of IS DISTINCT FROM OLD.identity_duplicate_of)
    EXECUTE FUNCTION item_identity_duplicate_of_rule();
