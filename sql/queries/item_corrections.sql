-- name: get_item_to_correct
-- The item row as a whole, locked for a correction of its fields or markings (and against events meanwhile).
-- $1 item_id
SELECT item_id, kind, firearm_type, component_type, make, model, calibre, year_of_manufacture, category,
       headstamp, quantity
  FROM item
 WHERE item_id = $1
   FOR UPDATE;

-- name: get_marking_of_item
-- One marking of an item (none when the marking is another item's). $1 item_id, $2 marking_id
SELECT marking_id, item_id, kind, stamped, manufacturer, place, country, serial, year, model, symbol_code,
       alphanumeric_code, recorded_at, recorded_by
  FROM marking
 WHERE item_id = $1 AND marking_id = $2;

-- name: list_marking_years
-- The years of an item's markings (a year of manufacture is not after any of them). $1 item_id
SELECT marking_id, kind, year
  FROM marking
 WHERE item_id = $1 AND year IS NOT NULL
 ORDER BY year, marking_id;

-- name: insert_item_correction
-- A correction of an item's fields ($2 NULL) or of one of its markings. $1 item_id, $2 marking_id, $3 changes
-- ({field: {before, after}}), $4 reason, $5 recorded_at, $6 recorded_by
INSERT INTO item_correction (item_id, marking_id, changes, reason, recorded_at, recorded_by)
VALUES ($1, $2, $3::jsonb, $4, $5, $6)
RETURNING correction_id, item_id, marking_id, changes, reason, recorded_at, recorded_by;

-- name: update_item_fields
-- The item's descriptive fields as its latest correction gives them (item_fields_follow_corrections checks at
-- commit). $1 item_id, $2 make, $3 model, $4 calibre, $5 year_of_manufacture, $6 firearm_type, $7 headstamp,
-- $8 quantity
UPDATE item
   SET make = $2, model = $3, calibre = $4, year_of_manufacture = $5, firearm_type = $6, headstamp = $7,
       quantity = $8
 WHERE item_id = $1;

-- name: update_marking_fields
-- A marking's text and parsed fields as its latest correction gives them (checked at commit). $1 marking_id,
-- $2 stamped, $3 manufacturer, $4 place, $5 country, $6 serial, $7 year, $8 model, $9 symbol_code,
-- $10 alphanumeric_code
UPDATE marking
   SET stamped = $2, manufacturer = $3, place = $4, country = $5, serial = $6, year = $7, model = $8,
       symbol_code = $9, alphanumeric_code = $10
 WHERE marking_id = $1;
