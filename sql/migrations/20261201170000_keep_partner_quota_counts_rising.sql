-- A partner's quota counts only go up (README "What one partner can make this registry store").
--
-- peer_quota_window_change_only (migration 20261201100000) lets the counts change, but in either direction: the
-- service role (firearms_app, UPDATE on the counts) could set a partner's notices and bytes back to 0 and so lift
-- its own bound on the partner, or set refused back and hide the partner's refusals from the status overview. The
-- code only ever adds: the statement that stores a notice adds one and its bytes, a refusal adds one, keeps the
-- hour's first refusal (coalesce) and its latest (greatest). So the database refuses anything else: a count
-- lowered, last_refused_at moved back (or cleared), first_refused_at changed once set. DELETE stays refused by
-- change_only_columns() (and firearms_app has no DELETE on the table), TRUNCATE by forbid_change().
--
-- Rows already there are kept as they are: the trigger compares each update's row with the row before it.
CREATE FUNCTION peer_quota_window_counts_rise() RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp AS $$
BEGIN
    RAISE EXCEPTION 'table peer_quota_window: a partner''s quota counts only go up (% of % at %: notices % to %, '
                    'bytes % to %, refused % to %, first_refused_at % to %, last_refused_at % to %)',
                    TG_OP, OLD.state, OLD.window_start, OLD.notices, NEW.notices, OLD.bytes, NEW.bytes,
                    OLD.refused, NEW.refused, OLD.first_refused_at, NEW.first_refused_at, OLD.last_refused_at,
                    NEW.last_refused_at
        USING ERRCODE = 'restrict_violation',
              HINT = 'notices, bytes and refused are only added to, last_refused_at only moves forward, '
                     'first_refused_at is set once';
END;
$$;

-- WHEN: the function runs only for an update it refuses, so a refusal stays a plain HOT update
-- (tests/db/test_status_quota.py).
CREATE TRIGGER peer_quota_window_counts_rise BEFORE UPDATE ON peer_quota_window
    FOR EACH ROW WHEN (NEW.notices < OLD.notices OR NEW.bytes < OLD.bytes OR NEW.refused < OLD.refused
                       OR (OLD.last_refused_at IS NOT NULL
                           AND (NEW.last_refused_at IS NULL OR NEW.last_refused_at < OLD.last_refused_at))
                       OR (OLD.first_refused_at IS NOT NULL
                           AND NEW.first_refused_at IS DISTINCT FROM OLD.first_refused_at))
    EXECUTE FUNCTION peer_quota_window_counts_rise();
