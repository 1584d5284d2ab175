-- name: list_partner_status
-- Each partner on the trust list, for the operator's overview (firearms status): its queue (count, the oldest
-- notice's created_at; notice_outbox_queued_idx), the head of the queue's attempts, last error and next attempt
-- (next_attempt_at: when the worker offers it again, as firearms notices shows it), the last
-- delivery (the delivered notice of the highest number: notices are delivered in number order;
-- notice_outbox_sequence_key), how many it rejected and when the receipt of the latest rejection was recorded
-- (notice_outbox_rejected_at_idx); the notices of the partner's refused for its quota since $1 and the latest
-- refusal (a row an hour, read on peer_quota_window_pkey: a refusal is on the row of its own hour, so one at or after
-- $1 is on a row of an hour that began after $1 - 1 hour; peer_quota_window_refused_in_hour_check). No notice's body.
-- database_now: the database's clock, which the worker schedules the head's next attempt on (the overview judges it
-- on that clock, not its host's).
SELECT statement_timestamp() AS database_now, p.state, p.enabled, q.queued, q.oldest_queued_at, h.attempts AS head_attempts, h.last_error AS head_last_error,
       h.next_attempt_at AS head_next_attempt_at, d.delivered_at AS last_delivered_at, r.rejected, f.quota_refused, f.last_quota_refused_at,
       -- on its own, max() is one row read from the end of the index; beside count() it read every rejected notice
       (SELECT max(o.delivered_at)
          FROM notice_outbox AS o
         WHERE o.recipient = p.state AND o.status = 'rejected') AS last_rejected_at
  FROM peer AS p
 CROSS JOIN LATERAL (SELECT count(*) AS queued, min(o.created_at) AS oldest_queued_at
                       FROM notice_outbox AS o
                      WHERE o.recipient = p.state AND o.status = 'queued') AS q
  LEFT JOIN LATERAL (SELECT o.attempts, o.last_error, o.next_attempt_at
                       FROM notice_outbox AS o
                      WHERE o.recipient = p.state AND o.status = 'queued'
                      ORDER BY o.sequence
                      LIMIT 1) AS h ON true
  LEFT JOIN LATERAL (SELECT o.delivered_at
                       FROM notice_outbox AS o
                      WHERE o.recipient = p.state AND o.status = 'delivered' AND o.sequence IS NOT NULL
                      ORDER BY o.sequence DESC
                      LIMIT 1) AS d ON true
 CROSS JOIN LATERAL (SELECT count(*) AS rejected
                       FROM notice_outbox AS o
                      WHERE o.recipient = p.state AND o.status = 'rejected') AS r
 CROSS JOIN LATERAL (SELECT coalesce(sum(w.refused), 0)::bigint AS quota_refused,
                            max(w.last_refused_at) AS last_quota_refused_at
                       FROM peer_quota_window AS w
                      WHERE w.state = p.state AND w.window_start > $1::timestamptz - interval '1 hour'
                        AND w.refused > 0 AND w.last_refused_at >= $1) AS f
 ORDER BY p.state;

-- name: get_journal_status
-- The journal for the operator's overview: entries waiting for the sealer (count, the oldest's recorded_at), the
-- last checkpoint, and the last intact verification (its entry's time and the head it reached; journaled only when
-- intact; journal_entry_action_idx), and when the journal began (its first entry); the latest verification that found
-- the chain broken that no intact verification since walked over (journal-broken): a full walk (its since_checkpoint
-- null) walked over every break, an incremental one over a break at a position after its start and up to its head
-- (so a break before the checkpoint the daily walk starts at waits for the full walk); "since": its head reached the
-- failure's own record in the chain, so it began once the failure was sealed, after the walk that found the break
-- had found it (an intact walk that began before, and was recorded after the failure, walked over the position
-- before the break). A failure not yet sealed is cleared by none. Read newest first on journal_entry_action_idx,
-- each failure's position on journal_link_entry_id_key, against the intact verifications after it (the same index):
-- a handful of entries, none at all while no verification ever failed.
-- The payload compared as jsonb, never cast: the service's role may write a failure with anything in it.
-- $1 the verification's action, $2 the failed verification's action
SELECT (SELECT count(*) FROM journal_pending) AS unsealed,
       -- the first hundred queued entries by number, each looked up by its key (a join may read the whole journal to
       -- find a handful; every one of a backlog looked up took 90 ms at 100,000 waiting, when the worker is down):
       -- an entry's number is drawn at its INSERT, just after its writer took its time, so the oldest is among them
       (SELECT min((SELECT e.recorded_at FROM journal_entry AS e WHERE e.entry_id = p.entry_id))
          FROM (SELECT entry_id FROM journal_pending ORDER BY entry_id LIMIT 100) AS p) AS oldest_unsealed_at,
       (SELECT recorded_at FROM journal_entry ORDER BY entry_id LIMIT 1) AS first_entry_at,
       c.seq AS checkpoint_seq, c.signed_at AS checkpoint_at,
       v.recorded_at AS verified_at, v.payload -> 'head_seq' AS verified_seq,
       b.recorded_at AS broken_at, b.payload -> 'bad_seq' AS broken_seq, b.payload -> 'bad_entry_id' AS broken_entry_id,
       b.payload ->> 'kind' AS broken_kind
  FROM (SELECT 1) AS one
  LEFT JOIN LATERAL (SELECT seq, signed_at FROM journal_checkpoint ORDER BY seq DESC LIMIT 1) AS c ON true
  LEFT JOIN LATERAL (SELECT recorded_at, payload FROM journal_entry
                      WHERE action = $1 ORDER BY entry_id DESC LIMIT 1) AS v ON true
  LEFT JOIN LATERAL (SELECT f.recorded_at, f.payload
                       FROM journal_entry AS f
                      WHERE f.action = $2
                        -- a subquery per failure (not NOT EXISTS, which the planner joins against every intact
                        -- verification ever recorded): the index from the failure on, up to the first that walked over it
                        AND (SELECT w.entry_id
                               FROM journal_entry AS w
                              WHERE w.action = $1 AND w.entry_id > f.entry_id
                                AND w.payload -> 'head_seq' >= (SELECT to_jsonb(l.seq) FROM journal_link AS l
                                                                 WHERE l.entry_id = f.entry_id)
                                AND (w.payload -> 'since_checkpoint' = 'null'::jsonb
                                     OR (jsonb_typeof(f.payload -> 'bad_seq') = 'number'
                                         AND jsonb_typeof(w.payload -> 'since_checkpoint') = 'number'
                                         AND w.payload -> 'since_checkpoint' < f.payload -> 'bad_seq'
                                         AND w.payload -> 'head_seq' >= f.payload -> 'bad_seq'))
                              ORDER BY w.entry_id
                              LIMIT 1) IS NULL
                      ORDER BY f.entry_id DESC
                      LIMIT 1) AS b ON true;

-- name: get_key_status
-- This registry's signing keys for the operator's overview: the one signing now (newest valid at $1), a rotation
-- announced and not switched to, how many keys were revoked and how many are recorded at all (none: the registry
-- never made its first key). $1 now
SELECT k.key_id, k.not_before,
       r.key_id AS rotation_key_id, r.created_at AS rotation_announced_at,
       (SELECT count(*) FROM registry_key WHERE revoked_at IS NOT NULL) AS revoked,
       (SELECT count(*) FROM registry_key) AS recorded
  FROM (SELECT 1) AS one
  LEFT JOIN registry_key AS k ON k.key_id = current_registry_key_id($1)
  LEFT JOIN LATERAL (SELECT key_id, created_at FROM pending_registry_key
                      WHERE switched_at IS NULL ORDER BY created_at DESC LIMIT 1) AS r ON true;

-- name: get_waiting_work
-- What waits for officers, for the operator's overview: held customs checks with no decision
-- (customs_check_held_idx), received transit-consent requests pending (consent_request_received_pending_idx),
-- received trace requests unanswered and of those the ones overdue (trace_request_state, trace_request_overdue: the
-- rule the trace list shows). Counts and dates only. $1 today
SELECT h.held, h.oldest_held_at, c.consent_requests, c.oldest_consent_request_at, t.traces_open, t.traces_overdue
  FROM (SELECT count(*) AS held, min(k.checked_at) AS oldest_held_at
          FROM customs_check AS k
         WHERE k.verdict = 'hold' AND NOT EXISTS (SELECT 1 FROM check_decision AS d WHERE d.check_id = k.check_id)) AS h,
       (SELECT count(*) AS consent_requests, min(received_at) AS oldest_consent_request_at
          FROM consent_request_received
         WHERE status = 'pending') AS c,
       (SELECT count(*) AS traces_open,
               count(*) FILTER (WHERE trace_request_overdue(answered, due_on, $1::date)) AS traces_overdue
          FROM trace_request_state
         WHERE direction = 'incoming' AND NOT answered) AS t;

-- name: get_service_status
-- The database's server version, the latest migration applied (file names sort by their UTC timestamps), and
-- whether it takes no write here: a hot standby, or default_transaction_read_only on (transaction_read_only is on in
-- the status's own READ ONLY transaction whatever the database takes, so the default is asked).
SELECT current_setting('server_version') AS server_version,
       (SELECT max(name) FROM schema_migration) AS migration,
       pg_is_in_recovery() OR current_setting('default_transaction_read_only')::boolean AS read_only;
