-- A manufacturer's identity form was upper() under the database's own LC_CTYPE, and its white space the
-- locale's \s: under a C/POSIX locale (an external FIREARMS_DATABASE_URL may have any) upper('Česká
-- zbrojovka') left č and á alone, so 'Česká zbrojovka' and 'ČESKÁ ZBROJOVKA' were two manufacturers and
-- the same firearm was registered twice; \s missed the Unicode spaces (U+2003 ...). A Turkish locale would
-- upper-case i to İ. Now the case mapping is the builtin provider's C.UTF-8 collation (pg_c_utf8: Unicode
-- simple case mapping, the same in every database and on every platform; PostgreSQL 17+, UTF8 databases),
-- named explicitly, and white space is the registry's one definition (firearms/text_rules.py
-- SPACE_CHARACTERS) written out, plus the ASCII control blanks \s took before (text rules refuse those).
DO $$
BEGIN
    IF current_setting('server_version_num')::integer < 170000 THEN
        RAISE EXCEPTION 'the registry needs PostgreSQL 17 or later (this server is %): a manufacturer''s identity is upper-cased with the builtin collation pg_c_utf8, which older servers lack',
            current_setting('server_version');
    END IF;
    IF pg_encoding_to_char((SELECT encoding FROM pg_database WHERE datname = current_database())) <> 'UTF8' THEN
        RAISE EXCEPTION 'the registry''s database must be encoded in UTF8 (names are kept in every script)';
    END IF;
END;
$$;

CREATE OR REPLACE FUNCTION normalise_manufacturer(manufacturer text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN upper(regexp_replace(manufacturer,
                                '[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+', ' ', 'g')
                 COLLATE pg_c_utf8);

-- The stored key of the items registered before (a generated column is computed again on UPDATE; the
-- manufacturer itself does not change), as for the no-break spaces (20261129191200): an item whose new key
-- is held by another item already -- the same firearm registered twice -- keeps its old key: both records
-- stay, for a records officer to correct. Of several such items that now share a key, the first registered
-- takes it. The ones left are those whose manufacturer_key is not normalise_manufacturer(manufacturer).
WITH taking AS (
    SELECT DISTINCT ON (i.serial_normalised, i.identity_class, i.country_of_manufacture,
                        normalise_manufacturer(i.manufacturer)) i.item_id
      FROM item AS i
     WHERE i.manufacturer_key <> normalise_manufacturer(i.manufacturer)
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
