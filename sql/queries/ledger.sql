-- name: get_licence_lines
-- The current lines of a licence with what was debited from each. $1 licence_id
SELECT l.line, l.category, l.quantity, l.serials,
       coalesce((SELECT sum(e.quantity) FROM ledger_entry e WHERE e.licence_id = l.licence_id AND e.line = l.line), 0)::bigint AS debited
  FROM licence_line l
 WHERE l.licence_id = $1
 ORDER BY l.line;

-- name: get_licence_lines_passed
-- The current lines of a partner's licence with what passed here for one movement (this State's own tally: its
-- ledger debits nothing of a partner's licence), as debited. $1 licence_id, $2 issuing_state, $3 number, $4 movement
SELECT l.line, l.category, l.quantity, l.serials,
       coalesce((SELECT sum(t.quantity) FROM passage_tally t
                  WHERE t.issuing_state = $2 AND t.licence_number = $3 AND t.movement = $4 AND t.line = l.line), 0)::bigint
           AS debited
  FROM licence_line l
 WHERE l.licence_id = $1
 ORDER BY l.line;

-- name: list_debited_serials
-- The serials debited under a licence (normalised), with their line. $1 licence_id
SELECT line, serial FROM ledger_serial WHERE licence_id = $1 ORDER BY line, serial;

-- name: list_ledger_entries
-- A licence's debits in order, a page after an entry id. $1 licence_id, $2 after ledger_entry_id, $3 limit
SELECT ledger_entry_id, licence_id, line, quantity, serials, check_id, customs_document, recorded_at, recorded_by
  FROM ledger_entry
 WHERE licence_id = $1 AND ledger_entry_id > $2
 ORDER BY ledger_entry_id
 LIMIT $3;

-- name: insert_ledger_debits
-- Several debits of one check at once, with their serials (the caller holds the licence lock and has
-- checked the balances; the balance trigger still guards). $1 licence_id, $2 debits as JSON
-- [{"line", "quantity", "serials", "keys"}] (keys = normalised serials), $3 check_id, $4 customs_document,
-- $5 recorded_at, $6 recorded_by
WITH debit AS (
    SELECT d.line, d.quantity, d.serials, d.keys
      FROM jsonb_to_recordset($2::jsonb) AS d (line int, quantity bigint, serials text[], keys text[])
), entry AS (
    INSERT INTO ledger_entry (licence_id, line, quantity, serials, check_id, customs_document, recorded_at, recorded_by)
    SELECT $1, line, quantity, serials, $3, $4, $5, $6 FROM debit ORDER BY line
    RETURNING ledger_entry_id, line
)
INSERT INTO ledger_serial (licence_id, serial, line, ledger_entry_id)
SELECT $1, k, entry.line, entry.ledger_entry_id
  FROM entry JOIN debit USING (line), unnest(debit.keys) AS k;
