-- name: insert_journal_entry
-- Append an entry and queue it for the sealer, in one statement. $1 recorded_at, $2 actor, $3 action, $4 entity, $5 entity_id, $6 payload
WITH entry AS (
    INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)
    VALUES ($1, $2, $3, $4, $5, $6)
    RETURNING entry_id
)
INSERT INTO journal_pending (entry_id)
SELECT entry_id FROM entry
RETURNING entry_id;

-- name: record_journal_verification
-- Journal an intact verification and queue it, through the owner's function (migration 20261201030100): only it may
-- write a journal.verified entry, and it holds the record to the chain. $1 recorded_at, $2 actor, $3 head_seq,
-- $4 since_checkpoint or NULL, $5 entries, $6 checkpoints
SELECT record_journal_verification($1, $2, $3, $4, $5, $6);

-- name: try_lock_sealer
-- Only one sealer at a time, across processes; released at the end of the transaction.
SELECT pg_try_advisory_xact_lock(7310002);

-- name: get_journal_head
-- The last link of the chain, if any.
SELECT seq, hash FROM journal_link ORDER BY seq DESC LIMIT 1;

-- name: take_pending_entries
-- Up to $1 entries waiting to be linked, removed from the queue, with their contents, in entry order; not those of
-- $2 (entries whose link the database refused in this run of the sealer: they stay queued). An entry already linked
-- (queued again, or linked, by someone with the service's role) leaves the queue and is not returned: a second link
-- of it would fail the sealer on every run (journal_link_entry_id_key).
WITH taken AS (
    DELETE FROM journal_pending
     WHERE entry_id IN (SELECT entry_id FROM journal_pending WHERE entry_id <> ALL ($2::bigint[])
                         ORDER BY entry_id LIMIT $1 FOR UPDATE SKIP LOCKED)
    RETURNING entry_id
)
SELECT e.entry_id, e.recorded_at, e.actor, e.action, e.entity, e.entity_id, e.payload
  FROM journal_entry AS e
  JOIN taken USING (entry_id)
 WHERE NOT EXISTS (SELECT FROM journal_link AS done WHERE done.entry_id = e.entry_id)
 ORDER BY e.entry_id;

-- name: insert_journal_links
-- Link sealed entries. $1 seqs, $2 entry_ids, $3 prev_hashes, $4 hashes, $5 sealed_at
INSERT INTO journal_link (seq, entry_id, prev_hash, hash, sealed_at)
SELECT seq, entry_id, prev_hash, hash, $5
  FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::bytea[]) AS t (seq, entry_id, prev_hash, hash);

-- name: list_refused_entries
-- What the database refused of a batch the sealer computed: the entries whose link ($1 entry_ids, $2 prev_hashes,
-- $3 hashes, as the sealer computed them) its own recomputation refuses (journal_link_follows_chain), and of the
-- entries the sealer set aside ($4) those it finds a canonical form for (journal_pending_leaves_linked keeps them
-- queued). Asked only after a refusal: the two canonical forms disagree on these.
SELECT t.entry_id
  FROM unnest($1::bigint[], $2::bytea[], $3::bytea[]) AS t (entry_id, prev_hash, hash)
  JOIN journal_entry AS e USING (entry_id)
 WHERE journal_payload_has_no_canonical_form(e.payload) OR journal_entry_hash(t.prev_hash, e) IS DISTINCT FROM t.hash
UNION
SELECT e.entry_id
  FROM journal_entry AS e
 WHERE e.entry_id = ANY ($4::bigint[]) AND NOT journal_payload_has_no_canonical_form(e.payload);

-- name: list_journal_chain
-- One batch of the chain in order with each entry (a missing entry comes back with NULL contents).
-- $1 after seq, $2 up to seq, $3 batch size
SELECT l.seq, l.entry_id, l.prev_hash, l.hash,
       e.entry_id AS found_entry_id, e.recorded_at, e.actor, e.action, e.entity, e.entity_id, e.payload
  FROM journal_link AS l
  LEFT JOIN journal_entry AS e USING (entry_id)
 WHERE l.seq > $1 AND l.seq <= $2
 ORDER BY l.seq
 LIMIT $3;

-- name: count_unlinked_entries
-- Entries that are neither linked nor waiting for the sealer: removed from the queue behind our back.
SELECT count(*)
  FROM journal_entry AS e
 WHERE NOT EXISTS (SELECT 1 FROM journal_link AS l WHERE l.entry_id = e.entry_id)
   AND NOT EXISTS (SELECT 1 FROM journal_pending AS p WHERE p.entry_id = e.entry_id);

-- name: first_unlinked_entry
-- The first such entry's id from $1 on: 0 for the whole journal, an incremental verification's lowest entry walked.
SELECT min(e.entry_id)
  FROM journal_entry AS e
 WHERE e.entry_id >= $1
   AND NOT EXISTS (SELECT 1 FROM journal_link AS l WHERE l.entry_id = e.entry_id)
   AND NOT EXISTS (SELECT 1 FROM journal_pending AS p WHERE p.entry_id = e.entry_id);

-- name: get_link_outside_chain
-- The lowest link at a position below 1 (written before journal_link_seq_check, which refuses them), if any.
SELECT seq, entry_id FROM journal_link WHERE seq < 1 ORDER BY seq LIMIT 1;

-- name: get_journal_entry
-- One entry by its id, if any. $1 entry_id
SELECT entry_id, recorded_at, actor, action, entity, entity_id, payload
  FROM journal_entry
 WHERE entry_id = $1;

-- name: count_pending_entries
-- Entries waiting for the sealer.
SELECT count(*) FROM journal_pending;

-- name: insert_journal_checkpoint
-- A signed checkpoint. $1 seq, $2 head_hash, $3 signed_at, $4 key_id, $5 signature
INSERT INTO journal_checkpoint (seq, head_hash, signed_at, key_id, signature)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT ON CONSTRAINT journal_checkpoint_pkey DO NOTHING
RETURNING seq;

-- name: get_journal_checkpoint
-- The checkpoint at one chain position, if any. $1 seq
SELECT seq, head_hash, signed_at, key_id, signature
  FROM journal_checkpoint
 WHERE seq = $1;

-- name: list_journal_checkpoints
-- The checkpoints in a range of chain positions with the public key that signed each and that key's validity
-- (NULL when the key's row is gone: such a checkpoint is reported, not left out). $1 after seq, $2 up to seq
SELECT c.seq, c.head_hash, c.signed_at, c.key_id, c.signature, k.public_key, k.not_before, k.not_after, k.revoked_at
  FROM journal_checkpoint AS c
  LEFT JOIN registry_key AS k USING (key_id)
 WHERE c.seq > $1 AND c.seq <= $2
 ORDER BY c.seq;

-- name: last_checkpoint_seq
-- The chain position of the latest checkpoint, if any (one beyond the chain's head says the chain was cut short).
SELECT max(seq) FROM journal_checkpoint;

-- name: last_checkpoint_seq_upto
-- The chain position of the latest checkpoint at or before $1, if any: where an incremental verification starts.
SELECT max(seq) FROM journal_checkpoint WHERE seq <= $1;

-- name: last_verified_seq
-- How far the latest recorded verification reached (its payload's head_seq, as JSON: the caller checks it is a
-- position), among the entries linked up to $1. The newest recorded first (index journal_entry_action_idx).
-- $1 up to seq, $2 the verification's action
SELECT e.payload -> 'head_seq'
  FROM journal_entry AS e
  JOIN journal_link AS l USING (entry_id)
 WHERE e.action = $2 AND l.seq <= $1
 ORDER BY e.entry_id DESC
 LIMIT 1;

-- name: list_journal_entries
-- Linked entries in chain order, a page after a chain position, optionally for one entity. The chain links
-- entries in commit order, so an entry that commits late comes after the pages already read, never before
-- them (entry ids are taken at the write, not at the commit). An entity id matches the entries that name it
-- and the reads of a page that showed it among others (journal.record_read: entity_id '*', the ids in
-- payload.ids; index journal_entry_read_ids_idx). $1 after seq, $2 entity or NULL, $3 entity_id or NULL, $4 limit
SELECT e.entry_id, l.seq, e.recorded_at, e.actor, e.action, e.entity, e.entity_id, e.payload, l.hash
  FROM journal_link AS l
  JOIN journal_entry AS e USING (entry_id)
 WHERE l.seq > $1
   AND ($2::text IS NULL OR e.entity = $2)
   AND ($3::text IS NULL OR e.entity_id = $3 OR (e.entity_id = '*' AND e.payload -> 'ids' ? $3))
 ORDER BY l.seq
 LIMIT $4;

-- name: list_journal_entries_of_action
-- list_journal_entries for one action (GET /api/v1/journal?action=): a query of its own, so that its plan always
-- has the action to go by (index journal_entry_action_idx): a rare action is found through the index, a common one
-- by walking the chain and keeping its entries. $1 after seq, $2 action, $3 entity or NULL, $4 entity_id or NULL,
-- $5 limit
SELECT e.entry_id, l.seq, e.recorded_at, e.actor, e.action, e.entity, e.entity_id, e.payload, l.hash
  FROM journal_link AS l
  JOIN journal_entry AS e USING (entry_id)
 WHERE l.seq > $1
   AND e.action = $2
   AND ($3::text IS NULL OR e.entity = $3)
   AND ($4::text IS NULL OR e.entity_id = $4 OR (e.entity_id = '*' AND e.payload -> 'ids' ? $4))
 ORDER BY l.seq
 LIMIT $5;

-- name: get_journal_link
-- The link at one chain position, if any. $1 seq
SELECT seq, hash FROM journal_link WHERE seq = $1;
