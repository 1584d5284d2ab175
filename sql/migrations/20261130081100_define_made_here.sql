-- Whether this registry's records show a firearm made in p_state, bearing p_state's manufacture marking: its
-- country of manufacture is p_state and a manufacture marking of it names p_state (or no country: the place
-- stamped instead). Protocol Art. 8(1)(b) marks an imported firearm with its country of import so that that
-- country's authorities can trace it; a firearm made here and coming home already bears this State's marking,
-- and its records here show it left. Used by the customs check (list_home_made_returns) and by the re-import
-- rule (made_here in items.sql); the one definition of "made here". Reads item and marking only.
CREATE FUNCTION made_here(p_item_id bigint, p_state text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1
                     FROM item AS i
                     JOIN marking AS m ON m.item_id = i.item_id AND m.kind = 'manufacture'
                    WHERE i.item_id = p_item_id AND i.country_of_manufacture = p_state
                      AND coalesce(m.country, p_state) = p_state);
$$;
