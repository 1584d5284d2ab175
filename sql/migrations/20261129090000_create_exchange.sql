-- Exchange between partner registries (PROTOCOL.md): trust list, inbox, outbox, key rotation.

-- The trust list (PROTOCOL §1): one row per partner State.
CREATE TABLE peer (
    state              text        CONSTRAINT peer_pkey PRIMARY KEY
                                   CONSTRAINT peer_state_check CHECK (state ~ '^[A-Z]{2}$'),
    base_url           text        NOT NULL CONSTRAINT peer_base_url_check CHECK (base_url ~ '^https?://[^\s]+$'),
    enabled            boolean     NOT NULL DEFAULT true,
    -- the last sequence number given to a notice for this partner (the outbox row lock)
    last_sent_sequence bigint      NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);

-- A partner's public keys with their validity; provenance is 'admin' or the id of the notice that announced it.
CREATE TABLE peer_key (
    state       text        NOT NULL CONSTRAINT peer_key_state_fkey REFERENCES peer (state),
    key_id      text        NOT NULL CONSTRAINT peer_key_key_id_check CHECK (key_id ~ '^[0-9a-f]{32}$'),
    public_key  bytea       NOT NULL CONSTRAINT peer_key_public_key_check CHECK (length(public_key) = 32),
    not_before  timestamptz NOT NULL,
    not_after   timestamptz,
    revoked_at  timestamptz,
    provenance  text        NOT NULL,
    created_at  timestamptz NOT NULL,
    CONSTRAINT peer_key_pkey PRIMARY KEY (state, key_id),
    CONSTRAINT peer_key_window_check CHECK (not_after IS NULL OR not_after > not_before)
);

-- Every notice received that passed checks 1-8: the exact canonical notice bytes, and the receipt given.
CREATE TABLE notice_inbox (
    sender          text        NOT NULL,
    notice_id       text        NOT NULL,
    type            text        NOT NULL,
    sequence        bigint      NOT NULL,
    created_at      timestamptz NOT NULL,
    in_reply_to     text,
    confidentiality text        NOT NULL CONSTRAINT notice_inbox_confidentiality_check
                                CHECK (confidentiality IN ('public', 'restricted', 'confidential')),
    key_id          text        NOT NULL,
    notice          bytea       NOT NULL,
    signature       text        NOT NULL,
    digest          text        NOT NULL,
    status          text        NOT NULL CONSTRAINT notice_inbox_status_check CHECK (status IN ('accepted', 'rejected')),
    reason          text,
    received_at     timestamptz NOT NULL,
    receipt         bytea       NOT NULL,
    CONSTRAINT notice_inbox_pkey PRIMARY KEY (sender, notice_id),
    CONSTRAINT notice_inbox_sequence_key UNIQUE (sender, sequence)
);
CREATE INDEX notice_inbox_received_idx ON notice_inbox (received_at, sender, notice_id);
CREATE TRIGGER notice_inbox_append_only BEFORE UPDATE OR DELETE ON notice_inbox
    FOR EACH ROW EXECUTE FUNCTION forbid_change();

-- Notices to send, written in the transaction that causes them; the worker signs them once and delivers
-- them per recipient strictly in sequence. Nothing is ever removed.
CREATE TABLE notice_outbox (
    notice_id       uuid        CONSTRAINT notice_outbox_pkey PRIMARY KEY,
    recipient       text        NOT NULL CONSTRAINT notice_outbox_recipient_fkey REFERENCES peer (state),
    sequence        bigint      NOT NULL,
    type            text        NOT NULL,
    created_at      timestamptz NOT NULL,
    in_reply_to     text,
    confidentiality text        NOT NULL CONSTRAINT notice_outbox_confidentiality_check
                                CHECK (confidentiality IN ('public', 'restricted', 'confidential')),
    body            jsonb       NOT NULL,
    signing_key_id  text,
    envelope        bytea,
    status          text        NOT NULL DEFAULT 'queued' CONSTRAINT notice_outbox_status_check
                                CHECK (status IN ('queued', 'delivered', 'rejected')),
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    last_attempt_at timestamptz,
    next_attempt_at timestamptz NOT NULL,
    lease_owner     text,
    lease_until     timestamptz,
    delivered_at    timestamptz,
    receipt         bytea,
    receipt_reason  text,
    CONSTRAINT notice_outbox_sequence_key UNIQUE (recipient, sequence)
);
CREATE INDEX notice_outbox_queued_idx ON notice_outbox (recipient, sequence) WHERE status = 'queued';
CREATE INDEX notice_outbox_created_idx ON notice_outbox (created_at, notice_id);

-- A new signing key waiting until every partner has its announcement (then it becomes a registry_key).
CREATE TABLE pending_registry_key (
    key_id      text        CONSTRAINT pending_registry_key_pkey PRIMARY KEY,
    public_key  bytea       NOT NULL,
    not_before  timestamptz NOT NULL,
    replaces    text        NOT NULL,
    created_at  timestamptz NOT NULL,
    switched_at timestamptz
);
