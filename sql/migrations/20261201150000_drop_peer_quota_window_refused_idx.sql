-- A flood of refused requests grew peer_quota_window_refused_idx (migration 20261201100000): every refusal rewrites
-- the partner's row of the hour, and as the index held last_refused_at (and refused, in its predicate) no such update
-- was HOT: each left a new index entry and a dead row version for vacuum, however many were refused. The status
-- overview reads a partner's refusals on the primary key instead (state, window_start > since - 1 hour: at most 25
-- rows a partner, as the index gave; sql/queries/status.sql), so a refusal touches no indexed column and is HOT.
DROP INDEX peer_quota_window_refused_idx;

-- What makes that read sound: a refusal is recorded on the row of its own UTC hour (record_quota_refusal), so a
-- refusal at or after `since` is on a row whose hour began after `since - 1 hour`. Said here, not only in the code.
ALTER TABLE peer_quota_window
    ADD CONSTRAINT peer_quota_window_refused_in_hour_check
        CHECK (date_trunc('hour', first_refused_at, 'UTC') = window_start
               AND date_trunc('hour', last_refused_at, 'UTC') = window_start);
