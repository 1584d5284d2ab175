-- name: create_item_staging
-- The raw rows of one import file, as text, exactly as read (COPY target). Dropped at commit.
CREATE TEMP TABLE item_staging (
    line bigint, problem text,
    kind text, firearm_type text, component_type text, make text, model text, calibre text,
    year_of_manufacture text, country_of_manufacture text, category text, manufacturer text, serial text,
    headstamp text, quantity text, marking_kind text, marking_stamped text, symbol_code text,
    alphanumeric_code text, import_country text, import_year text, import_stamped text
) ON COMMIT DROP;

-- name: set_import_temp_buffers
-- Room for the staging tables in memory; only possible before the session first uses a temporary table.
SET temp_buffers = '128MB';

-- name: set_import_work_mem
-- The in-file duplicate check sorts the whole file: let it sort in memory (this transaction only).
SET LOCAL work_mem = '256MB';

-- name: create_item_checked
-- The staged rows with their verdict (problem NULL = valid), typed, with the item id each valid row will get.
CREATE TEMP TABLE item_checked (
    line bigint, problem text, problems text[], item_id bigint,
    kind text, firearm_type text, component_type text, make text, model text, calibre text,
    year_of_manufacture smallint, country_of_manufacture text, category text, manufacturer text, serial text,
    headstamp text, quantity integer, marking_kind text, marking_stamped text, symbol_code text,
    alphanumeric_code text, import_country text, import_year smallint, import_stamped text
) ON COMMIT DROP;

-- name: check_item_staging
-- Validate every staged row set-wise: the first rule broken names the row's problem (the rules of firearms/item_rules.py), and problems lists every rule it breaks, in the order of imports.REASONS. A rule that reads a value another rule judges (a year's range, its order against another year, a quantity's range, an antique's year) is judged only on a value that passed that rule: its fault is the other rule's. A row the file reader refused (malformed-line, text PostgreSQL cannot hold) and the duplicate and registered rows (judged on a row without fault) have one reason. The list is made for rejected rows alone. $1 known country codes, $2 current year, $3 control-character pattern, $4 the white-space characters that may not pad a value
INSERT INTO item_checked
SELECT line,
       CASE WHEN problem IS NULL AND rank_in_file > 1 THEN 'duplicate-in-file' ELSE problem END,
       CASE
         WHEN problem IS NULL AND rank_in_file > 1 THEN ARRAY['duplicate-in-file']
         WHEN problem IS NULL THEN NULL
         WHEN staged IS NOT NULL THEN ARRAY[staged]
         ELSE array_remove(ARRAY[
           CASE WHEN kind IS NULL OR kind NOT IN ('firearm', 'component', 'ammunition')
                  OR firearm_type NOT IN ('pistol', 'revolver', 'rifle', 'shotgun', 'sub-machine-gun', 'machine-gun',
                                          'combination', 'other')
                  OR component_type NOT IN ('barrel', 'frame', 'receiver', 'slide', 'cylinder', 'bolt', 'breech-block',
                                            'sound-moderator')
                  OR category NOT IN ('A', 'B', 'C', 'D', 'antique')
                  OR marking_kind NOT IN ('manufacture', 'geometric') THEN 'invalid-value' END,
           CASE WHEN year_of_manufacture !~ '^[0-9]{4}$' OR year_of_manufacture < '1300'
                  OR import_year !~ '^[0-9]{4}$' OR import_year < '1300'
                  OR quantity !~ '^[0-9]{1,10}$'
                  OR CASE WHEN quantity ~ '^[0-9]{1,10}$' THEN quantity::bigint NOT BETWEEN 1 AND 2000000000 END
                THEN 'invalid-number' END,
           CASE WHEN greatest(length(make), length(model), length(calibre), length(manufacturer), length(headstamp),
                              length(country_of_manufacture), length(symbol_code), length(alphanumeric_code),
                              length(import_country)) > 200
                  OR greatest(length(marking_stamped), length(import_stamped)) > 500
                  OR manufacturer IS NULL OR manufacturer ~ $3 OR make ~ $3 OR model ~ $3 OR calibre ~ $3
                  OR headstamp ~ $3 OR marking_stamped ~ $3 OR symbol_code ~ $3 OR alphanumeric_code ~ $3
                  OR import_stamped ~ $3 THEN 'invalid-text' END,
           CASE WHEN strpos($4, left(manufacturer, 1)) > 0 OR strpos($4, right(manufacturer, 1)) > 0
                  OR strpos($4, left(make, 1)) > 0 OR strpos($4, right(make, 1)) > 0
                  OR strpos($4, left(model, 1)) > 0 OR strpos($4, right(model, 1)) > 0
                  OR strpos($4, left(calibre, 1)) > 0 OR strpos($4, right(calibre, 1)) > 0
                  OR strpos($4, left(headstamp, 1)) > 0 OR strpos($4, right(headstamp, 1)) > 0
                  OR strpos($4, left(marking_stamped, 1)) > 0 OR strpos($4, right(marking_stamped, 1)) > 0
                  OR strpos($4, left(symbol_code, 1)) > 0 OR strpos($4, right(symbol_code, 1)) > 0
                  OR strpos($4, left(alphanumeric_code, 1)) > 0 OR strpos($4, right(alphanumeric_code, 1)) > 0
                  OR strpos($4, left(import_stamped, 1)) > 0 OR strpos($4, right(import_stamped, 1)) > 0
                THEN 'padded-value' END,
           CASE WHEN serial IS NULL OR length(serial) > 64
                  OR translate(serial, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 ./_-', '') <> ''
                  OR serial LIKE ' %' OR serial LIKE '% ' OR normalise_serial(serial) = '' THEN 'invalid-serial' END,
           CASE WHEN country_of_manufacture IS NULL OR NOT country_of_manufacture = ANY($1::text[])
                  OR NOT import_country = ANY($1::text[]) THEN 'invalid-country' END,
           CASE WHEN CASE WHEN year_of_manufacture ~ '^[0-9]{4}$' THEN year_of_manufacture::integer > $2::integer END
                  OR CASE WHEN import_year ~ '^[0-9]{4}$' THEN import_year::integer > $2::integer END
                THEN 'year-in-future' END,
           CASE WHEN CASE WHEN import_year ~ '^[0-9]{4}$' AND year_of_manufacture ~ '^[0-9]{4}$'
                          THEN import_year::integer < year_of_manufacture::integer END
                THEN 'year-before-manufacture' END,
           CASE WHEN (kind = 'firearm' AND (firearm_type IS NULL OR component_type IS NOT NULL OR quantity IS NOT NULL))
                  OR (kind = 'component' AND (component_type IS NULL OR firearm_type IS NOT NULL
                                              OR quantity IS NOT NULL))
                  OR (kind = 'ammunition' AND (quantity IS NULL OR firearm_type IS NOT NULL
                                               OR component_type IS NOT NULL)) THEN 'invalid-kind-fields' END,
           CASE WHEN category = 'antique'
                 AND (year_of_manufacture IS NULL OR (year_of_manufacture ~ '^[0-9]{4}$'
                                                      AND year_of_manufacture >= '1900'))
                THEN 'antique-too-recent' END,
           CASE WHEN (marking_stamped IS NULL AND (marking_kind IS NOT NULL OR symbol_code IS NOT NULL
                                                   OR alphanumeric_code IS NOT NULL))
                  OR (marking_kind = 'geometric' AND (symbol_code IS NULL OR alphanumeric_code IS NULL))
                  OR (import_stamped IS NULL AND (import_country IS NOT NULL OR import_year IS NOT NULL))
                  OR (import_stamped IS NOT NULL AND import_country IS NULL) THEN 'invalid-marking' END,
           CASE WHEN kind = 'firearm' AND marking_stamped IS NULL THEN 'marking-required' END
         ], NULL)
       END,
       CASE WHEN problem IS NULL AND rank_in_file = 1 THEN nextval('item_item_id_seq'::regclass) END,
       kind, firearm_type, component_type, make, model, calibre,
       CASE WHEN problem IS NULL THEN year_of_manufacture::smallint END, country_of_manufacture, category,
       manufacturer, serial, headstamp, CASE WHEN problem IS NULL THEN quantity::integer END,
       COALESCE(marking_kind, 'manufacture'), marking_stamped, symbol_code, alphanumeric_code, import_country,
       CASE WHEN problem IS NULL THEN import_year::smallint END, import_stamped
  FROM (
    SELECT v.*,
           row_number() OVER (
               PARTITION BY v.problem IS NULL,
                            normalise_serial(v.serial),
                            CASE WHEN v.kind = 'component' THEN 'component:' || v.component_type ELSE v.kind END,
                            normalise_manufacturer(v.manufacturer),
                            v.country_of_manufacture
               ORDER BY v.line) AS rank_in_file
      FROM (
        SELECT s.line, s.problem AS staged, s.kind, s.firearm_type, s.component_type, s.make, s.model, s.calibre, s.year_of_manufacture,
               s.country_of_manufacture, s.category, s.manufacturer, s.serial, s.headstamp, s.quantity,
               s.marking_kind, s.marking_stamped, s.symbol_code, s.alphanumeric_code, s.import_country,
               s.import_year, s.import_stamped,
               CASE
                 WHEN s.problem IS NOT NULL THEN s.problem
                 WHEN s.kind IS NULL OR s.kind NOT IN ('firearm', 'component', 'ammunition')
                   OR s.firearm_type NOT IN ('pistol', 'revolver', 'rifle', 'shotgun', 'sub-machine-gun',
                                             'machine-gun', 'combination', 'other')
                   OR s.component_type NOT IN ('barrel', 'frame', 'receiver', 'slide', 'cylinder', 'bolt',
                                               'breech-block', 'sound-moderator')
                   OR s.category NOT IN ('A', 'B', 'C', 'D', 'antique')
                   OR s.marking_kind NOT IN ('manufacture', 'geometric') THEN 'invalid-value'
                 WHEN s.year_of_manufacture !~ '^[0-9]{4}$' OR s.year_of_manufacture < '1300'
                   OR s.import_year !~ '^[0-9]{4}$' OR s.import_year < '1300'
                   OR s.quantity !~ '^[0-9]{1,10}$' THEN 'invalid-number'
                 WHEN s.quantity::bigint NOT BETWEEN 1 AND 2000000000 THEN 'invalid-number'
                 WHEN greatest(length(s.make), length(s.model), length(s.calibre), length(s.manufacturer),
                               length(s.headstamp), length(s.country_of_manufacture), length(s.symbol_code),
                               length(s.alphanumeric_code), length(s.import_country)) > 200
                   OR greatest(length(s.marking_stamped), length(s.import_stamped)) > 500 THEN 'invalid-text'
                 -- text rules, in the order of item_rules.validate_item
                 WHEN s.manufacturer IS NULL OR s.manufacturer ~ $3 THEN 'invalid-text'
                 WHEN strpos($4, left(s.manufacturer, 1)) > 0 OR strpos($4, right(s.manufacturer, 1)) > 0 THEN 'padded-value'
                 WHEN s.make ~ $3 OR s.model ~ $3 OR s.calibre ~ $3 OR s.headstamp ~ $3 THEN 'invalid-text'
                 WHEN strpos($4, left(s.make, 1)) > 0 OR strpos($4, right(s.make, 1)) > 0 OR strpos($4, left(s.model, 1)) > 0 OR strpos($4, right(s.model, 1)) > 0 OR strpos($4, left(s.calibre, 1)) > 0 OR strpos($4, right(s.calibre, 1)) > 0 OR strpos($4, left(s.headstamp, 1)) > 0 OR strpos($4, right(s.headstamp, 1)) > 0 THEN 'padded-value'
                 WHEN s.serial IS NULL OR length(s.serial) > 64
                   OR translate(s.serial, 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 ./_-', '') <> ''
                   OR s.serial LIKE ' %' OR s.serial LIKE '% ' OR normalise_serial(s.serial) = '' THEN 'invalid-serial'
                 WHEN s.country_of_manufacture IS NULL OR NOT s.country_of_manufacture = ANY($1::text[])
                   THEN 'invalid-country'
                 WHEN s.year_of_manufacture::integer > $2::integer THEN 'year-in-future'
                 WHEN (s.kind = 'firearm' AND (s.firearm_type IS NULL OR s.component_type IS NOT NULL
                                               OR s.quantity IS NOT NULL))
                   OR (s.kind = 'component' AND (s.component_type IS NULL OR s.firearm_type IS NOT NULL
                                                 OR s.quantity IS NOT NULL))
                   OR (s.kind = 'ammunition' AND (s.quantity IS NULL OR s.firearm_type IS NOT NULL
                                                  OR s.component_type IS NOT NULL)) THEN 'invalid-kind-fields'
                 WHEN s.category = 'antique' AND (s.year_of_manufacture IS NULL OR s.year_of_manufacture >= '1900')
                   THEN 'antique-too-recent'
                 -- the item's markings: manufacture/geometric, then import
                 WHEN s.marking_stamped ~ $3 OR s.symbol_code ~ $3 OR s.alphanumeric_code ~ $3 THEN 'invalid-text'
                 WHEN strpos($4, left(s.marking_stamped, 1)) > 0 OR strpos($4, right(s.marking_stamped, 1)) > 0 OR strpos($4, left(s.symbol_code, 1)) > 0 OR strpos($4, right(s.symbol_code, 1)) > 0 OR strpos($4, left(s.alphanumeric_code, 1)) > 0 OR strpos($4, right(s.alphanumeric_code, 1)) > 0 THEN 'padded-value'
                 WHEN s.marking_stamped IS NULL AND (s.marking_kind IS NOT NULL OR s.symbol_code IS NOT NULL
                                                     OR s.alphanumeric_code IS NOT NULL) THEN 'invalid-marking'
                 WHEN s.marking_kind = 'geometric' AND (s.symbol_code IS NULL OR s.alphanumeric_code IS NULL)
                   THEN 'invalid-marking'
                 WHEN s.import_stamped ~ $3 THEN 'invalid-text'
                 WHEN strpos($4, left(s.import_stamped, 1)) > 0 OR strpos($4, right(s.import_stamped, 1)) > 0 THEN 'padded-value'
                 WHEN s.import_stamped IS NULL AND (s.import_country IS NOT NULL OR s.import_year IS NOT NULL)
                   THEN 'invalid-marking'
                 WHEN s.import_stamped IS NOT NULL AND s.import_country IS NULL THEN 'invalid-marking'
                 WHEN NOT s.import_country = ANY($1::text[]) THEN 'invalid-country'
                 WHEN s.import_year::integer > $2::integer THEN 'year-in-future'
                 WHEN s.import_year::integer < s.year_of_manufacture::integer THEN 'year-before-manufacture'
                 WHEN s.kind = 'firearm' AND s.marking_stamped IS NULL THEN 'marking-required'
               END AS problem
          FROM item_staging AS s
        OFFSET 0  -- a fence: compute each row's verdict once, not again for every use of it above
      ) AS v
  ) AS r;

-- name: insert_imported_items
-- Insert every valid row with its markings, in one statement; an identity already registered is skipped. $1 import_id, $2 imported_at, $3 imported_by
WITH inserted AS (
    INSERT INTO item (item_id, kind, firearm_type, component_type, make, model, calibre, year_of_manufacture,
                      country_of_manufacture, category, manufacturer, serial, headstamp, quantity,
                      registered_at, registered_by, import_id)
    OVERRIDING SYSTEM VALUE
    SELECT item_id, kind, firearm_type, component_type, make, model, calibre, year_of_manufacture,
           country_of_manufacture, category, manufacturer, serial, headstamp, quantity, $2, $3, $1
      FROM item_checked
     WHERE item_id IS NOT NULL
     -- in identity order, whatever the file's: two imports of overlapping records take the identities' locks in
     -- one order and wait for each other instead of deadlocking (the plan's sort had given that order by chance)
     ORDER BY normalise_serial(serial), kind, component_type, normalise_manufacturer(manufacturer),
              country_of_manufacture
    ON CONFLICT (serial_normalised, identity_class, manufacturer_key, country_of_manufacture)
       WHERE identity_duplicate_of IS NULL DO NOTHING
    RETURNING item_id
), made AS (
    INSERT INTO marking (item_id, kind, stamped, manufacturer, country, serial, year, model, symbol_code,
                         alphanumeric_code, recorded_at, recorded_by, import_id)
    SELECT c.item_id, c.marking_kind, c.marking_stamped, c.manufacturer, c.country_of_manufacture, c.serial,
           c.year_of_manufacture, c.model, c.symbol_code, c.alphanumeric_code, $2, $3, $1
      FROM item_checked AS c JOIN inserted USING (item_id)
     WHERE c.marking_stamped IS NOT NULL
    UNION ALL
    SELECT c.item_id, 'import', c.import_stamped, NULL, c.import_country, NULL, c.import_year, NULL, NULL, NULL,
           $2, $3, $1
      FROM item_checked AS c JOIN inserted USING (item_id)
     WHERE c.import_stamped IS NOT NULL
    RETURNING 1
)
SELECT (SELECT count(*) FROM inserted) AS inserted, (SELECT count(*) FROM made) AS markings;

-- name: count_import_outcome
-- Rows read, valid rows (inserted now or already registered), rejected rows.
SELECT count(*) AS rows_read,
       count(*) FILTER (WHERE item_id IS NOT NULL) AS valid,
       count(*) FILTER (WHERE problem IS NOT NULL) AS rejected
  FROM item_checked;

-- name: list_import_rejections
-- Rejected rows and rows already registered, in line order, with every reason and the registered item's id for the latter. $1 whether any row was already registered
SELECT c.line, c.serial,
       CASE WHEN c.problem IS NOT NULL THEN c.problem ELSE 'already-registered' END AS reason,
       CASE WHEN c.problem IS NOT NULL THEN c.problems ELSE ARRAY['already-registered'] END AS reasons,
       CASE WHEN c.problem IS NULL THEN (
           SELECT i.item_id FROM item AS i
            WHERE i.serial_normalised = normalise_serial(c.serial)
              AND i.identity_class = CASE WHEN c.kind = 'component' THEN 'component:' || c.component_type
                                          ELSE c.kind END
              AND i.manufacturer_key = normalise_manufacturer(c.manufacturer)
              AND i.country_of_manufacture = c.country_of_manufacture
              AND i.identity_duplicate_of IS NULL) END AS item_id
  FROM item_checked AS c
 WHERE c.problem IS NOT NULL
    OR ($1::boolean AND c.item_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM item AS i WHERE i.item_id = c.item_id))
 ORDER BY c.line;

-- name: next_import_id
-- An id for the batch, taken before its items are inserted (its row is written last, with the counts).
SELECT nextval(pg_get_serial_sequence('item_import', 'import_id'));

-- name: insert_item_import
-- The batch record. $1 import_id, $2 file_name, $3 format, $4 sha256, $5 rows_read, $6 inserted, $7 already_registered, $8 rejected, $9 imported_at, $10 imported_by
INSERT INTO item_import (import_id, file_name, format, sha256, rows_read, inserted, already_registered, rejected,
                         imported_at, imported_by)
OVERRIDING SYSTEM VALUE
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10);

-- name: list_item_imports
-- The bulk-import batches, newest first, a page after a batch. $1 before this import_id or NULL, $2 limit
SELECT import_id, file_name, format, sha256, rows_read, inserted, already_registered, rejected, imported_at,
       imported_by
  FROM item_import
 WHERE $1::bigint IS NULL OR import_id < $1
 ORDER BY import_id DESC
 LIMIT $2;

-- name: get_item_import
-- One bulk-import batch. $1 import_id
SELECT import_id, file_name, format, sha256, rows_read, inserted, already_registered, rejected, imported_at,
       imported_by
  FROM item_import
 WHERE import_id = $1;
