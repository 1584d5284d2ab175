-- An item's status is what its events made it: the status_after of its latest event, or 'active' (its
-- registration) when it has none. Only the trigger on UPDATE kept the other columns; a bare
-- UPDATE item SET status = 'active' turned a stolen firearm into one that clears customs while its history
-- still said stolen, and an event written without moving the status disagreed the other way. Checked at
-- commit (deferred), against the row as it is then, so that several events in one transaction pass.
CREATE FUNCTION item_status_follows_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    current_status text;
    latest_status  text;
BEGIN
    SELECT status INTO current_status FROM item WHERE item_id = NEW.item_id;
    SELECT status_after INTO latest_status
      FROM item_event WHERE item_id = NEW.item_id ORDER BY event_id DESC LIMIT 1;
    IF current_status IS DISTINCT FROM COALESCE(latest_status, 'active') THEN
        RAISE EXCEPTION 'item %: status % is not what its events give (%); record an event instead',
            NEW.item_id, current_status, COALESCE(latest_status, 'active')
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER item_status_follows_events AFTER UPDATE OF status ON item
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION item_status_follows_events();
CREATE CONSTRAINT TRIGGER item_event_moves_status AFTER INSERT ON item_event
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION item_status_follows_events();
