-- A firearm deactivated under Reg. 2015/2403 is category C (Dir. 2021/555 Annex I, part II, C point 6; DESIGN §3
-- "the item's category change"). A deactivated event now records the item's category before and after, and the
-- item row takes the category after; a correction of that deactivation records the change back. NULL on every
-- other event, and on deactivations recorded before this migration (they changed no category: records are
-- append-only, they stay as they are). The rules and the replay of a correction live in firearms/item_events.py.
ALTER TABLE item_event
    ADD COLUMN category_before text
        CONSTRAINT item_event_category_before_check CHECK (category_before IN ('A', 'B', 'C', 'D', 'antique')),
    ADD COLUMN category_after  text
        CONSTRAINT item_event_category_after_check CHECK (category_after IN ('A', 'B', 'C', 'D', 'antique')),
    ADD CONSTRAINT item_event_category_fields_check CHECK (event IN ('deactivated', 'corrected')
        OR (category_before IS NULL AND category_after IS NULL));

-- An item row is a record: only its status and its category may change, both following its events (checked at
-- commit below and in item_status_follows_events), and its identity_duplicate_of once, from NULL.
CREATE OR REPLACE FUNCTION item_status_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    derived CONSTANT text[] := ARRAY['status', 'category', 'identity_class', 'manufacturer_key',
                                     'serial_normalised', 'serial_folded', 'identity_duplicate_of'];
BEGIN
    IF (to_jsonb(NEW) - derived) IS DISTINCT FROM (to_jsonb(OLD) - derived)
       OR (OLD.identity_duplicate_of IS NOT NULL
           AND NEW.identity_duplicate_of IS DISTINCT FROM OLD.identity_duplicate_of) THEN
        RAISE EXCEPTION 'table item: only status and category may change (and identity_duplicate_of once); record an event instead'
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;

-- An item's category is what its events made it: the category_after of its latest event that moved the category
-- (a deactivation, or a correction of one). An item with no such event keeps the category it was registered with,
-- so a change of it is refused outright. Checked at commit (deferred), against the row as it is then, like the
-- status: a bare UPDATE item SET category, or a category event written without moving the item, is refused.
CREATE FUNCTION item_category_follows_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    current_category text;
    latest_category  text;
BEGIN
    SELECT category INTO current_category FROM item WHERE item_id = NEW.item_id;
    SELECT category_after INTO latest_category
      FROM item_event
     WHERE item_id = NEW.item_id AND (category_before IS NOT NULL OR category_after IS NOT NULL)
     ORDER BY event_id DESC LIMIT 1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'item %: category changed without an event that moves it; record a deactivation instead',
            NEW.item_id USING ERRCODE = 'restrict_violation';
    END IF;
    IF current_category IS DISTINCT FROM latest_category THEN
        RAISE EXCEPTION 'item %: category % is not what its events give (%); record an event instead',
            NEW.item_id, current_category, latest_category USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER item_category_follows_events AFTER UPDATE OF category ON item
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.category IS DISTINCT FROM NEW.category) EXECUTE FUNCTION item_category_follows_events();
CREATE CONSTRAINT TRIGGER item_event_moves_category AFTER INSERT ON item_event
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.category_before IS NOT NULL OR NEW.category_after IS NOT NULL)
    EXECUTE FUNCTION item_category_follows_events();
