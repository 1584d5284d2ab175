-- name: enqueue_outbox_notices
-- Queue one notice for each recipient on the trust list, each with its journal entry, in one statement,
-- unnumbered (the worker numbers them when it first takes them). Returns the recipients queued.
-- Due at once on the database's clock, which every worker schedules on ($4 is the queueing host's, signed into the
-- notice: a host whose clock runs ahead held its notices back that long).
-- $1 notice_ids, $2 recipients (one notice id each), $3 type, $4 created_at, $5 in_reply_to,
-- $6 confidentiality, $7 body, $8 signing_key_id, $9 actor
WITH wanted AS (
    SELECT w.notice_id, w.recipient, w.position
      FROM unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS w (notice_id, recipient, position)
     WHERE EXISTS (SELECT 1 FROM peer WHERE state = w.recipient)
), queued AS (
    INSERT INTO notice_outbox (notice_id, recipient, type, created_at, in_reply_to, confidentiality, body,
                               signing_key_id, next_attempt_at)
    SELECT notice_id, recipient, $3, $4, $5, $6, $7, $8, statement_timestamp() FROM wanted ORDER BY position
    RETURNING notice_id, recipient
), entry AS (
    INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)
    SELECT $4, $9, 'notice.queued', 'notice_outbox', q.notice_id::text,
           jsonb_build_object('recipient', q.recipient, 'type', $3::text,
                              'in_reply_to', $5::text, 'confidentiality', $6::text)
      FROM queued AS q JOIN wanted AS w USING (notice_id)
     ORDER BY w.position
    RETURNING entry_id
), pending AS (
    INSERT INTO journal_pending (entry_id) SELECT entry_id FROM entry
)
SELECT recipient FROM queued;

-- name: lock_partners_with_unnumbered_notices
-- The partners with queued notices still unnumbered, locked for numbering (SKIP LOCKED: another worker
-- numbering them is left alone; the lock is held until commit). NO KEY UPDATE: it does not wait for the
-- transactions queueing notices, whose foreign key holds a KEY SHARE lock on the partner's row.
SELECT p.state
  FROM peer AS p
 WHERE EXISTS (SELECT 1 FROM notice_outbox AS o WHERE o.recipient = p.state AND o.sequence IS NULL)
   FOR NO KEY UPDATE OF p SKIP LOCKED;

-- name: number_outbox_notices
-- Number the unnumbered notices of these (locked) partners in the order they were queued, after each
-- partner's last number. A new statement: it sees every queue commit before it. $1 states
WITH numbered AS (
    SELECT o.notice_id,
           p.last_sent_sequence + row_number() OVER (PARTITION BY o.recipient ORDER BY o.queued_order) AS sequence
      FROM notice_outbox AS o
      JOIN peer AS p ON p.state = o.recipient
     WHERE o.sequence IS NULL AND o.recipient = ANY($1::text[])
), assigned AS (
    UPDATE notice_outbox AS o SET sequence = n.sequence
      FROM numbered AS n
     WHERE o.notice_id = n.notice_id
    RETURNING o.recipient, o.sequence
), last AS (
    SELECT recipient, min(sequence) AS first, max(sequence) AS last FROM assigned GROUP BY recipient
)
UPDATE peer AS p SET last_sent_sequence = last.last
  FROM last
 WHERE p.state = last.recipient
RETURNING p.state, last.first, last.last;

-- name: get_database_clock
-- The database's clock: every worker schedules the outbox on it (due, lease end, attempted_at, the next attempt),
-- whatever its host's clock reads -- the one clock all the hosts running a worker against this database share.
SELECT clock_timestamp();

-- name: get_outbox_lease
-- A run under way looks again (every delivery.RECHECK s) before its next notice: the database's clock now, whether
-- the recipient is still enabled, and when the worker's lease of that notice ends (NULL: it no longer holds it). The
-- run's own time is the monotonic clock's, which stands still while its host is suspended: the lease may have run
-- out on the database's clock, and another worker taken the run. $1 recipient, $2 notice_id, $3 worker
SELECT clock_timestamp() AS now,
       coalesce((SELECT enabled FROM peer WHERE state = $1), false) AS enabled,
       (SELECT lease_until FROM notice_outbox
         WHERE notice_id = $2 AND lease_owner = $3 AND status = 'queued') AS lease_until;

-- name: claim_outbox_runs
-- For every enabled recipient, a run of its queued notices in sequence order -- the lowest and up to $4 - 1
-- after it, as long as each is due and not leased -- leased to one worker, which delivers them one at a time,
-- strictly in order. SKIP LOCKED: two workers never claim the same notice; a worker keeps the part of its
-- run that starts at head_sequence without a hole and releases the rest (release_outbox_leases).
-- key_id: the key to sign with (the one named when queued, else the newest valid at created_at).
-- A retry is never scheduled further ahead than the back-off cap (or a minute, for a notice an administrator must
-- unblock, or a partner's Retry-After honoured, with its jitter): one due after $5 (now + the largest) was scheduled
-- by the database's clock since set back, and is due now rather than hours later. So is one whose last attempt lies
-- ahead of now, however near its retry: a clock set back less than the hour a Retry-After may be honoured would
-- otherwise hold it back that long. Every time here is the database's (get_database_clock), never a host's.
-- $1 now, $2 lease_until, $3 worker, $4 most notices in a run, $5 retry_limit
WITH queue AS MATERIALIZED (
    SELECT q.notice_id,
           bool_and((q.next_attempt_at <= $1 OR q.next_attempt_at > $5 OR q.last_attempt_at > $1)
                    AND (q.lease_until IS NULL OR q.lease_until <= $1))
               OVER (PARTITION BY q.recipient ORDER BY q.sequence) AS ready,
           min(q.sequence) OVER (PARTITION BY q.recipient) AS head_sequence
      FROM peer AS p
     CROSS JOIN LATERAL (
           SELECT o.notice_id, o.recipient, o.sequence, o.next_attempt_at, o.last_attempt_at, o.lease_until
             FROM notice_outbox AS o
            WHERE o.recipient = p.state AND o.status = 'queued' AND o.sequence IS NOT NULL
            ORDER BY o.sequence
            LIMIT $4
           ) AS q
     WHERE p.enabled
), due AS (
    SELECT o.notice_id, queue.head_sequence
      FROM notice_outbox AS o
      JOIN queue USING (notice_id)
     WHERE queue.ready AND o.status = 'queued' AND (o.lease_until IS NULL OR o.lease_until <= $1)
       FOR UPDATE OF o SKIP LOCKED
)
UPDATE notice_outbox AS o
   SET lease_owner = $3, lease_until = $2
  FROM due, peer AS p
 WHERE o.notice_id = due.notice_id AND p.state = o.recipient
RETURNING o.notice_id, o.recipient, o.sequence, o.type, o.created_at, o.in_reply_to, o.confidentiality, o.body,
          coalesce(o.signing_key_id, registry_key_at(o.created_at)) AS key_id, o.envelope, o.attempts,
          p.base_url, due.head_sequence;

-- name: set_outbox_envelopes
-- Keep the signed bytes of notices: every retry sends exactly these. $1 notice_ids, $2 envelopes
UPDATE notice_outbox AS o
   SET envelope = s.envelope
  FROM unnest($1::uuid[], $2::bytea[]) AS s (notice_id, envelope)
 WHERE o.notice_id = s.notice_id AND o.envelope IS NULL;

-- name: release_outbox_leases
-- Give back leased notices that were not sent (the rest of a run). $1 notice_ids, $2 worker
UPDATE notice_outbox
   SET lease_owner = NULL, lease_until = NULL
 WHERE notice_id = ANY($1::uuid[]) AND lease_owner = $2;

-- name: record_outbox_receipts
-- The partner's verified receipts, each delivered or rejected, with one journal entry each, in sequence order.
-- Returns how many were recorded (a notice whose lease this worker lost is left alone). A receipt ends any
-- refusal before it: the number the partner expected when it refused the notice as behind (expected_sequence)
-- is cleared (and a notice-id-conflict answer, id_conflict_at), or a resend asked for later would put the notice back at the head of the queue with that stale
-- number, and peers resequence would take it for the partner's current one.
-- delivered_at: the database's clock as they are recorded (to the second), not the worker's carried clock, which
-- stands still while its host is suspended.
-- $1 notice_ids, $2 worker, $3 statuses, $4 receipts, $5 reasons, $6 attempted_ats, $7 journal payloads,
-- $8 recorded_at
WITH recorded AS (
    UPDATE notice_outbox AS o
       SET status = r.status, receipt = r.receipt, receipt_reason = r.reason,
           delivered_at = date_trunc('second', clock_timestamp()),
           attempts = o.attempts + 1, last_attempt_at = r.attempted_at, last_error = NULL,
           expected_sequence = NULL, id_conflict_at = NULL, lease_owner = NULL, lease_until = NULL
      FROM unnest($1::uuid[], $3::text[], $4::bytea[], $5::text[], $6::timestamptz[], $7::jsonb[])
           AS r (notice_id, status, receipt, reason, attempted_at, payload)
     WHERE o.notice_id = r.notice_id AND o.lease_owner = $2 AND o.status = 'queued'
    RETURNING o.notice_id, o.sequence, r.status, r.payload
), entry AS (
    INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)
    SELECT $8, 'system:exchange', 'notice.' || status, 'notice_outbox', notice_id::text, payload
      FROM recorded
     ORDER BY sequence
    RETURNING entry_id
), pending AS (
    INSERT INTO journal_pending (entry_id) SELECT entry_id FROM entry
)
SELECT count(*) FROM recorded;

-- name: record_outbox_failure
-- A failed attempt at $5: try again $4 seconds from now on the database's clock (read here, as the failure is
-- recorded: the worker's carried clock stands still while its host is suspended, and a retry timed on it after a
-- sleep would be due at once). $1 notice_id, $2 worker, $3 error, $4 seconds, $5 attempted_at
UPDATE notice_outbox
   SET last_error = $3, next_attempt_at = clock_timestamp() + make_interval(secs => $4::float8),
       attempts = attempts + 1, last_attempt_at = $5,
       lease_owner = NULL, lease_until = NULL
 WHERE notice_id = $1 AND lease_owner = $2
RETURNING notice_id;

-- name: record_outbox_refused_ahead
-- The partner refused the notice with a sequence-gap ahead of its number: it expects $3 (it holds notices under
-- numbers up to there that are not this one, as after this registry was restored from a backup). Kept on the
-- notice: it proves the partner does not hold it (check 7 passed), so peers resequence may renumber it.
-- A failed attempt otherwise, tried again $5 seconds from now on the database's clock (as record_outbox_failure).
-- $1 notice_id, $2 worker, $3 expected_sequence, $4 error, $5 seconds, $6 attempted_at
UPDATE notice_outbox
   SET expected_sequence = $3, id_conflict_at = NULL, last_error = $4,
       next_attempt_at = clock_timestamp() + make_interval(secs => $5::float8), attempts = attempts + 1,
       last_attempt_at = $6, lease_owner = NULL, lease_until = NULL
 WHERE notice_id = $1 AND lease_owner = $2
RETURNING notice_id;

-- name: record_outbox_id_conflict
-- The partner answered notice-id-conflict (PROTOCOL §4 check 7): it holds a notice under this id with other
-- bytes, this one under another number (as after this registry was restored from a backup). Kept on the notice:
-- peers resequence may then give it the number the partner holds it under. The latest answer counts, so a
-- sequence-gap expected_sequence kept before is cleared. A failed attempt otherwise, tried again $4 seconds from
-- now on the database's clock (as record_outbox_failure). $1 notice_id, $2 worker, $3 error, $4 seconds,
-- $5 attempted_at
UPDATE notice_outbox
   SET id_conflict_at = $5, expected_sequence = NULL, last_error = $3,
       next_attempt_at = clock_timestamp() + make_interval(secs => $4::float8), attempts = attempts + 1,
       last_attempt_at = $5, lease_owner = NULL, lease_until = NULL
 WHERE notice_id = $1 AND lease_owner = $2
RETURNING notice_id;

-- name: outbox_has_sequence
-- Whether a notice for $1 carries number $2.
SELECT EXISTS (SELECT 1 FROM notice_outbox WHERE recipient = $1 AND sequence = $2);

-- name: requeue_outbox_from
-- The partner asks for everything from sequence $2 again (PROTOCOL §4 sequence-gap), due at once on the database's
-- clock. $1 recipient, $2 sequence
UPDATE notice_outbox
   SET status = 'queued', next_attempt_at = statement_timestamp(), lease_owner = NULL, lease_until = NULL
 WHERE recipient = $1 AND sequence >= $2 AND status <> 'queued'
RETURNING notice_id;

-- name: list_outbox_notices
-- Sent and queued notices, newest first, a page after a cursor; optional status and recipient filters.
-- $1 before created_at or NULL, $2 before notice_id, $3 status or NULL, $4 recipient or NULL, $5 limit
SELECT notice_id, recipient, sequence, type, created_at, in_reply_to, confidentiality, status, attempts, last_error,
       last_attempt_at, next_attempt_at, delivered_at, receipt_reason, receipt IS NOT NULL AS has_receipt
  FROM notice_outbox
 WHERE ($1::timestamptz IS NULL OR (created_at, notice_id) < ($1::timestamptz, $2::uuid))
   AND ($3::text IS NULL OR status = $3)
   AND ($4::text IS NULL OR recipient = $4)
 ORDER BY created_at DESC, notice_id DESC
 LIMIT $5;

-- name: get_outbox_notice
-- One outgoing notice with its receipt. $1 notice_id
SELECT notice_id, recipient, sequence, type, created_at, in_reply_to, confidentiality, body, status, attempts,
       last_error, last_attempt_at, next_attempt_at, delivered_at, receipt_reason, receipt, envelope
  FROM notice_outbox WHERE notice_id = $1;

-- name: count_outbox_pending
-- Notices not yet acknowledged by a receipt, per recipient.
SELECT recipient, count(*) AS queued FROM notice_outbox WHERE status = 'queued' GROUP BY recipient ORDER BY recipient;


-- name: relax_commit
-- This transaction need not wait for its WAL flush: losing it in a crash only repeats a delivery, which the
-- receiver answers with the same receipt (PROTOCOL §4 duplicates), and re-signing gives the same bytes.
SET LOCAL synchronous_commit = off;

-- name: last_sent_licence_version
-- The highest version of an own licence queued for partners (NULL when none). $1 licence number
SELECT max((body -> 'licence' ->> 'version')::int)
  FROM notice_outbox
 WHERE (body -> 'licence' ->> 'number') = $1
   AND type IN ('export-licence.issued', 'import-authorisation.issued');

-- name: list_licence_recipients
-- The States an own licence was sent to (any version), in name order. $1 licence number
SELECT DISTINCT recipient
  FROM notice_outbox
 WHERE (body -> 'licence' ->> 'number') = $1
   AND type IN ('export-licence.issued', 'import-authorisation.issued')
 ORDER BY recipient;

-- name: get_requested_licence_version
-- The licence version a transit-consent request sent to a State carried (NULL when no such request was
-- sent about that licence). $1 notice_id, $2 recipient, $3 licence number
SELECT (body -> 'licence' ->> 'version')::int
  FROM notice_outbox
 WHERE notice_id = $1 AND recipient = $2 AND type = 'transit-consent.requested'
   AND (body -> 'licence' ->> 'number') = $3;

-- name: park_queued_outbox_sequences
-- Before resequence_outbox_notices: the numbered notices still queued for the partner take their numbers
-- negated, keeping their order, so the new numbers, which may overlap the old ones, never meet them under
-- notice_outbox_sequence_key (checked row by row). Nothing outside the transaction sees them. $1 recipient
UPDATE notice_outbox SET sequence = -sequence WHERE recipient = $1 AND status = 'queued' AND sequence > 0;

-- name: resequence_outbox_notices
-- After this registry's database was restored from a backup, the partner holds notices under numbers
-- this side no longer has: the numbered notices still queued for it (parked by park_queued_outbox_sequences)
-- take numbers from $2 on, in their order, and lose their signed bytes (signed again with the new numbers);
-- the partner's last number follows; they are due at once on the database's clock. $2 must lie above
-- get_outbox_sequences' highest. $1 recipient, $2 first sequence
WITH queued AS (
    SELECT notice_id, $2::bigint - 1 + row_number() OVER (ORDER BY sequence DESC) AS sequence
      FROM notice_outbox
     WHERE recipient = $1 AND status = 'queued' AND sequence < 0
), renumbered AS (
    UPDATE notice_outbox AS o
       SET sequence = q.sequence, envelope = NULL, expected_sequence = NULL, id_conflict_at = NULL,
           next_attempt_at = statement_timestamp(),
           lease_owner = NULL, lease_until = NULL
      FROM queued AS q
     WHERE o.notice_id = q.notice_id
    RETURNING o.sequence
)
UPDATE peer SET last_sent_sequence = coalesce((SELECT max(sequence) FROM renumbered), $2::bigint - 1)
 WHERE state = $1
RETURNING (SELECT count(*) FROM renumbered) AS renumbered, last_sent_sequence;

-- name: get_outbox_sequences
-- The number a resequencing must start above, and the partner's last sent number, its row locked. That is
-- the highest number the partner acknowledged (a delivered or rejected notice), or the first one still
-- queued for it when higher (the one it refused as behind what it expects); the later queued numbers do
-- not count: they are what is renumbered, and they kept being given while the partner refused the first.
-- queued: how many notices wait for the partner, numbered or not (the numbers a resequencing will give).
-- head_expected: what the partner expected when it refused the first numbered notice queued for it with a
-- sequence-gap ahead of it (NULL: it did not, or nothing numbered waits); head_conflict: whether it answered that
-- notice notice-id-conflict instead (it holds it under another number); acknowledged: the highest number the
-- partner acknowledged (a delivered or rejected notice).
-- $1 recipient
SELECT p.last_sent_sequence, o.highest, o.acknowledged, o.queued, h.head_expected,
       coalesce(h.head_conflict, false) AS head_conflict
  FROM peer AS p
  CROSS JOIN LATERAL (SELECT greatest(max(sequence) FILTER (WHERE status <> 'queued'),
                                      min(sequence) FILTER (WHERE status = 'queued')) AS highest,
                             max(sequence) FILTER (WHERE status <> 'queued') AS acknowledged,
                             count(*) FILTER (WHERE status = 'queued') AS queued
                        FROM notice_outbox WHERE recipient = $1) AS o
  LEFT JOIN LATERAL (SELECT expected_sequence AS head_expected, id_conflict_at IS NOT NULL AS head_conflict
                       FROM notice_outbox
                      WHERE recipient = $1 AND status = 'queued' AND sequence IS NOT NULL
                      ORDER BY sequence LIMIT 1) AS h ON true
 WHERE p.state = $1
   FOR UPDATE OF p;
