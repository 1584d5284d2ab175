-- A rotation abandoned before its switch (keys cancel): its waiting key moves here from pending_registry_key,
-- in the transaction that queues registry.key-revoked for it to every partner told of it (PROTOCOL §6), so
-- nothing switches to it, signs with it or asks for its file; kept for good (a key_id is never reused).
-- A table of its own rather than a column of pending_registry_key: the queries that look for a waiting key
-- (the worker's switch, the backup's needed key files) stay as they are, and still run on a database this
-- migration has not reached yet.
CREATE TABLE cancelled_registry_key (
    key_id       text        CONSTRAINT cancelled_registry_key_pkey PRIMARY KEY,
    public_key   bytea       NOT NULL,
    not_before   timestamptz NOT NULL,
    replaces     text        NOT NULL,
    created_at   timestamptz NOT NULL,
    cancelled_at timestamptz NOT NULL
);
CREATE TRIGGER cancelled_registry_key_append_only BEFORE UPDATE OR DELETE ON cancelled_registry_key
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER cancelled_registry_key_truncate_refused BEFORE TRUNCATE ON cancelled_registry_key
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
