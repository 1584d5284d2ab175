-- Idempotency keys (draft-ietf-httpapi-idempotency-key-header): an officer's client that retries a request
-- creating a record (its answer lost to a timeout) names it with the same Idempotency-Key and gets the first
-- answer again instead of a second record. Scoped per token; kept with the record, in its transaction, and
-- never changed or removed: the same key later still answers the same.
CREATE TABLE idempotency_key (
    token_id         uuid        NOT NULL CONSTRAINT idempotency_key_token_fkey REFERENCES officer_token (token_id),
    idempotency_key  text        NOT NULL CONSTRAINT idempotency_key_key_check
                                     CHECK (idempotency_key ~ '^[A-Za-z0-9._:~+/=-]{1,255}$'),
    request          text        NOT NULL,  -- method and path, for people: "POST /api/v1/licences"
    fingerprint      bytea       NOT NULL,  -- SHA-256 of the operation and its decoded body
    answer           bytea       NOT NULL,  -- the first answer's JSON
    created_at       timestamptz NOT NULL,
    CONSTRAINT idempotency_key_pkey PRIMARY KEY (token_id, idempotency_key)
);

CREATE TRIGGER idempotency_key_append_only BEFORE UPDATE OR DELETE ON idempotency_key
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER idempotency_key_truncate_refused BEFORE TRUNCATE ON idempotency_key
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
