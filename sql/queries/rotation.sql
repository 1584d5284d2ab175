-- name: insert_pending_registry_key
-- A new signing key waiting for its announcements. $1 key_id, $2 public_key, $3 not_before, $4 replaces, $5 created_at
INSERT INTO pending_registry_key (key_id, public_key, not_before, replaces, created_at)
VALUES ($1, $2, $3, $4, $5);

-- name: lock_pending_registry_keys
-- One rotation at a time: a second waits here until the first commits, then sees its waiting key. SHARE ROW
-- EXCLUSIVE conflicts with itself and with writes, not with the worker's row locks (SKIP LOCKED).
LOCK TABLE pending_registry_key IN SHARE ROW EXCLUSIVE MODE;

-- name: has_unswitched_key
-- Whether a new key is waiting for its announcements (a plain read: a row the worker holds counts too).
SELECT EXISTS (SELECT 1 FROM pending_registry_key WHERE switched_at IS NULL);

-- name: list_unswitched_keys
-- New keys not yet in use, locked so one worker switches each.
SELECT key_id, public_key, not_before, replaces, created_at
  FROM pending_registry_key
 WHERE switched_at IS NULL
 ORDER BY created_at
   FOR UPDATE SKIP LOCKED;

-- name: lock_unswitched_keys
-- New keys not yet in use, locked for an administrator's switch: it waits for a worker's pass that holds them and
-- then sees whether that pass switched them (or a cancellation took them away).
SELECT key_id, public_key, not_before, replaces, created_at
  FROM pending_registry_key
 WHERE switched_at IS NULL
 ORDER BY created_at
   FOR UPDATE;

-- name: list_unannounced_states
-- The enabled partners that have not accepted the announcement of a key: still queued, or stored rejected (such a
-- partner does not trust the key). Each partner's queued and rejected notices on their partial indexes
-- (notice_outbox_queued_idx, notice_outbox_rejected_at_idx), not the outbox: the worker runs it at every pass while a
-- rotation waits, and the overview names them. $1 key_id
SELECT p.state AS recipient
  FROM peer AS p
 WHERE p.enabled
   AND (EXISTS (SELECT FROM notice_outbox AS o
                 WHERE o.recipient = p.state AND o.status = 'queued'
                   AND o.type = 'registry.key-announced' AND o.body ->> 'key_id' = $1)
        OR EXISTS (SELECT FROM notice_outbox AS o
                    WHERE o.recipient = p.state AND o.status = 'rejected'
                      AND o.type = 'registry.key-announced' AND o.body ->> 'key_id' = $1))
 ORDER BY p.state;

-- name: mark_key_switched
-- The pending key is now a registry key. $1 key_id, $2 now
UPDATE pending_registry_key SET switched_at = $2 WHERE key_id = $1;

-- name: get_registry_key
-- One of this registry's keys. $1 key_id
SELECT key_id, public_key, not_before, not_after, revoked_at, created_at FROM registry_key WHERE key_id = $1;

-- name: revoke_registry_key
-- Revoke one of this registry's keys from $2. $1 key_id, $2 revoked_at
UPDATE registry_key SET revoked_at = $2 WHERE key_id = $1 AND revoked_at IS NULL
RETURNING key_id;

-- name: get_pending_registry_key_for_update
-- A rotated key, waiting or switched to, locked: a cancellation waits for a worker's pass that holds it, then
-- sees whether that pass switched it (or, after another cancellation, finds it gone). $1 key_id
SELECT key_id, public_key, not_before, replaces, created_at, switched_at
  FROM pending_registry_key
 WHERE key_id = $1
   FOR UPDATE;

-- name: cancel_pending_registry_key
-- Abandon a waiting key (keys cancel): it moves to cancelled_registry_key. $1 key_id, $2 cancelled_at
WITH cancelled AS (
    DELETE FROM pending_registry_key
     WHERE key_id = $1 AND switched_at IS NULL
    RETURNING key_id, public_key, not_before, replaces, created_at
)
INSERT INTO cancelled_registry_key (key_id, public_key, not_before, replaces, created_at, cancelled_at)
SELECT key_id, public_key, not_before, replaces, created_at, $2 FROM cancelled
RETURNING key_id;

-- name: get_cancelled_registry_key
-- A key whose rotation was cancelled. $1 key_id
SELECT key_id, replaces, cancelled_at FROM cancelled_registry_key WHERE key_id = $1;

-- name: list_announced_states
-- The partners a key's announcement was queued for that did not store it rejected: they trust the key, or will
-- once the announcement still queued for them arrives (nothing is dropped from the outbox). $1 key_id
SELECT DISTINCT recipient
  FROM notice_outbox
 WHERE type = 'registry.key-announced' AND body ->> 'key_id' = $1 AND status <> 'rejected'
 ORDER BY recipient;

-- name: list_key_revocations
-- The registry.key-revoked notices queued for one of this registry's keys: recipient and revoked_at. $1 key_id
SELECT recipient, body ->> 'revoked_at' AS revoked_at
  FROM notice_outbox
 WHERE type = 'registry.key-revoked' AND body ->> 'key_id' = $1
 ORDER BY recipient;

-- name: resign_queued_outbox_notices
-- keys replace: every notice still queued (numbered or not, for every partner) is to be signed with key $1, its kept
-- bytes cleared; the notice itself is kept (a partner holding it already finds the same canonical bytes). Per
-- partner: how many, and the earliest created_at among them (the key must be valid from then at the partner).
-- $1 key_id
WITH resigned AS (
    UPDATE notice_outbox
       SET signing_key_id = $1, envelope = NULL
     WHERE status = 'queued' AND signing_key_id IS DISTINCT FROM $1
    RETURNING recipient, created_at
)
SELECT recipient, count(*) AS resigned, min(created_at) AS earliest
  FROM resigned
 GROUP BY recipient
 ORDER BY recipient;

-- name: get_latest_key_start
-- The latest not_before of this registry's keys (NULL when it has none): a replacing key starts no earlier, so that
-- it is the current one by current_registry_key_id's rule.
SELECT max(not_before) FROM registry_key;

-- name: get_earliest_queued_notice
-- The created_at of the oldest notice still queued for any partner (NULL when none): a replacing key is valid from
-- then, since it signs every queued notice again.
SELECT min(created_at) FROM notice_outbox WHERE status = 'queued';
