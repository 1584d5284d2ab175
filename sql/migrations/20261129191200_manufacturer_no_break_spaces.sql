-- The manufacturer of an identity is compared upper-cased with runs of white space collapsed; PostgreSQL's
-- \s does not match the no-break spaces (U+00A0, U+2007, U+202F) that names pasted from web pages and word
-- processors hold, so "Steyr<NBSP>Mannlicher" was another manufacturer than "Steyr Mannlicher" and the same
-- firearm was registered twice. They are white space now, as for padding (item_rules.SPACE_CHARACTERS).
CREATE OR REPLACE FUNCTION normalise_manufacturer(manufacturer text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN upper(regexp_replace(manufacturer, '[\s\u00a0\u2007\u202f]+', ' ', 'g'));

-- The stored key of the items registered before (a generated column is computed again on UPDATE; the
-- manufacturer itself does not change). An item whose new key is held by another item already -- the same
-- firearm registered twice -- keeps its old key: both records stay, for a records officer to correct.
-- Of several such items that now share a key, the first registered takes it.
WITH taking AS (
    SELECT DISTINCT ON (i.serial_normalised, i.identity_class, i.country_of_manufacture,
                        normalise_manufacturer(i.manufacturer)) i.item_id
      FROM item AS i
     WHERE i.manufacturer ~ '[\u00a0\u2007\u202f]'
       AND NOT EXISTS (
           SELECT 1 FROM item AS o
            WHERE o.serial_normalised = i.serial_normalised
              AND o.identity_class = i.identity_class
              AND o.country_of_manufacture = i.country_of_manufacture
              AND o.manufacturer_key = normalise_manufacturer(i.manufacturer))
     ORDER BY i.serial_normalised, i.identity_class, i.country_of_manufacture, normalise_manufacturer(i.manufacturer),
              i.item_id
)
UPDATE item SET manufacturer = manufacturer WHERE item_id IN (SELECT item_id FROM taking);
