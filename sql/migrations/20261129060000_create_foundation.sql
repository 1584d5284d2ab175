-- Foundation: officers' tokens, the registry's signing keys, and the hash-chained journal (DESIGN §6, §7).

-- Records are never edited or deleted: tables that hold them get this trigger.
CREATE FUNCTION forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TABLE officer_token (
    token_id    uuid        CONSTRAINT officer_token_pkey PRIMARY KEY,
    name        text        NOT NULL CONSTRAINT officer_token_name_check CHECK (length(name) BETWEEN 1 AND 200),
    role        text        NOT NULL CONSTRAINT officer_token_role_check CHECK (role IN
                    ('admin', 'records-officer', 'licensing-officer', 'customs-officer', 'verifier', 'auditor')),
    token_hash  bytea       NOT NULL CONSTRAINT officer_token_token_hash_key UNIQUE,
    created_at  timestamptz NOT NULL,
    created_by  text        NOT NULL,
    revoked_at  timestamptz,
    revoked_by  text
);

-- Every public key this registry has ever signed with (PROTOCOL §6: never reused, never forgotten).
CREATE TABLE registry_key (
    key_id      text        CONSTRAINT registry_key_pkey PRIMARY KEY
                            CONSTRAINT registry_key_key_id_check CHECK (key_id ~ '^[0-9a-f]{32}$'),
    public_key  bytea       NOT NULL CONSTRAINT registry_key_public_key_check CHECK (length(public_key) = 32),
    not_before  timestamptz NOT NULL,
    not_after   timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL
);

-- The journal (DESIGN §6). Writers only INSERT an entry (no lock, no contention); the sealer links
-- pending entries into the chain in its own commit order: hash = SHA-256(prev_hash || canonical(entry)).
CREATE TABLE journal_entry (
    entry_id    bigint      GENERATED ALWAYS AS IDENTITY CONSTRAINT journal_entry_pkey PRIMARY KEY,
    recorded_at timestamptz NOT NULL,
    actor       text        NOT NULL,
    action      text        NOT NULL,
    entity      text        NOT NULL,
    entity_id   text        NOT NULL,
    payload     jsonb       NOT NULL
);
CREATE INDEX journal_entry_entity_idx ON journal_entry (entity, entity_id);

-- The sealer's queue: an entry id waits here until it is linked (deleted from here in that transaction).
CREATE TABLE journal_pending (
    entry_id    bigint      CONSTRAINT journal_pending_pkey PRIMARY KEY
);

CREATE TABLE journal_link (
    seq         bigint      CONSTRAINT journal_link_pkey PRIMARY KEY,
    entry_id    bigint      NOT NULL CONSTRAINT journal_link_entry_id_key UNIQUE
                            CONSTRAINT journal_link_entry_id_fkey REFERENCES journal_entry (entry_id),
    prev_hash   bytea       NOT NULL,
    hash        bytea       NOT NULL,
    sealed_at   timestamptz NOT NULL
);

CREATE TABLE journal_checkpoint (
    seq         bigint      CONSTRAINT journal_checkpoint_pkey PRIMARY KEY
                            CONSTRAINT journal_checkpoint_seq_fkey REFERENCES journal_link (seq),
    head_hash   bytea       NOT NULL,
    signed_at   timestamptz NOT NULL,
    key_id      text        NOT NULL CONSTRAINT journal_checkpoint_key_id_fkey REFERENCES registry_key (key_id),
    signature   bytea       NOT NULL
);

CREATE TRIGGER journal_entry_append_only BEFORE UPDATE OR DELETE ON journal_entry
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER journal_link_append_only BEFORE UPDATE OR DELETE ON journal_link
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER journal_checkpoint_append_only BEFORE UPDATE OR DELETE ON journal_checkpoint
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER journal_truncate_refused BEFORE TRUNCATE ON journal_entry
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
