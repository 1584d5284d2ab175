-- A replay sends the first answer as it was sent: its bytes (kept since 20261129202000, no longer decoded and
-- encoded again) and now its status. Keys stored before have none (NULL): each of the routes that take a key
-- answers one success status, its own, and the replay of such a key uses it.
ALTER TABLE idempotency_key ADD COLUMN status_code smallint
    CONSTRAINT idempotency_key_status_code_check CHECK (status_code BETWEEN 200 AND 299);
