-- A deactivation moves the item to category C, or the category the officer gives (Dir. 2021/555 Annex I, part
-- II, C point 6; DESIGN §3 "the item's category change"), and since 20261130070000 records the category it moved
-- the item to. firearms/item_events.py always writes it; this is the database's own rule, so that no other
-- writer stores a deactivation that moves nothing (the item would stay in its old category while its history
-- says deactivated). NOT VALID: deactivations recorded before 20261130070000 have none and stay as they are
-- (records are append-only); PostgreSQL still holds every new row to it, and pg_dump adds the constraint after
-- the data, so a backup holding such rows restores. The category before may be none: an item registered
-- without a category.
ALTER TABLE item_event
    ADD CONSTRAINT item_event_deactivation_category_check
        CHECK (event <> 'deactivated' OR category_after IS NOT NULL) NOT VALID;
