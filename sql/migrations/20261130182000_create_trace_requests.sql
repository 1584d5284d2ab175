-- Trace requests between registries (ITI Section V, paras 14-24; UN Firearms Protocol Art. 12(4); DESIGN §3
-- "Trace request"): requests to and from other States, their acknowledgement and answer, with due dates.
--
-- Append-only, three tables: the request (either direction), its acknowledgement, its answer. A request's status
-- is computed from which of the other two exist (open, acknowledged, answered): no row ever changes, so the
-- service's role needs no UPDATE right (grant_service_role() gives every table SELECT and INSERT). One
-- acknowledgement and one answer per request, by their primary keys: a second answer is refused by the database
-- too.

CREATE TABLE trace_request (
    trace_request_id bigint      GENERATED ALWAYS AS IDENTITY CONSTRAINT trace_request_pkey PRIMARY KEY,
    direction        text        NOT NULL
                                 CONSTRAINT trace_request_direction_check CHECK (direction IN ('incoming', 'outgoing')),
    -- the requested State (outgoing) or the requesting State (incoming)
    partner_state    text        NOT NULL CONSTRAINT trace_request_partner_state_check CHECK (partner_state ~ '^[A-Z]{2}$'),
    -- the trace.requested notice: this registry's outbox id (outgoing) or the sender's notice id (incoming)
    notice_id        text        NOT NULL,
    -- outgoing: the seized or found item recorded here that the request is about, when there is one
    item_id          bigint      CONSTRAINT trace_request_item_id_fkey REFERENCES item (item_id),
    weapon           jsonb       NOT NULL CONSTRAINT trace_request_weapon_check CHECK (jsonb_typeof(weapon) = 'object'),
    circumstances    text        NOT NULL,
    intended_use     text        NOT NULL,
    confidentiality  text        NOT NULL CONSTRAINT trace_request_confidentiality_check
                                 CHECK (confidentiality IN ('public', 'restricted', 'confidential')),
    answer_by        date        NOT NULL,
    -- incoming: when this State acknowledges by (ITI para 17) and what its records hold (pre-computed findings)
    acknowledge_by   date,
    findings         jsonb,
    created_at       timestamptz NOT NULL,
    created_by       text        NOT NULL,
    CONSTRAINT trace_request_notice_key UNIQUE (direction, partner_state, notice_id),
    CONSTRAINT trace_request_incoming_check CHECK (
        (direction = 'incoming') = (acknowledge_by IS NOT NULL AND findings IS NOT NULL)
        AND (direction = 'outgoing' OR item_id IS NULL))
);
CREATE INDEX trace_request_direction_idx ON trace_request (direction, trace_request_id);

CREATE TABLE trace_acknowledgement (
    trace_request_id bigint      NOT NULL CONSTRAINT trace_acknowledgement_pkey PRIMARY KEY
                                 CONSTRAINT trace_acknowledgement_trace_request_id_fkey
                                 REFERENCES trace_request (trace_request_id),
    -- the trace.acknowledged notice: sent (outbox id) for an incoming request, received for an outgoing one
    notice_id        text        NOT NULL,
    acknowledged_at  timestamptz NOT NULL,
    -- the day the requested State says it answers by
    answer_by        date,
    recorded_by      text        NOT NULL
);

CREATE TABLE trace_answer (
    trace_request_id bigint      NOT NULL CONSTRAINT trace_answer_pkey PRIMARY KEY
                                 CONSTRAINT trace_answer_trace_request_id_fkey
                                 REFERENCES trace_request (trace_request_id),
    -- the trace.answered notice: sent (outbox id) for an incoming request, received for an outgoing one
    notice_id        text        NOT NULL,
    outcome          text        NOT NULL
                                 CONSTRAINT trace_answer_outcome_check CHECK (outcome IN ('found', 'not-found', 'restricted')),
    -- incoming: the item of this registry the record was built from
    item_id          bigint      CONSTRAINT trace_answer_item_id_fkey REFERENCES item (item_id),
    record           jsonb,
    reason           text,
    note             text,
    answered_at      timestamptz NOT NULL,
    answered_by      text        NOT NULL,
    CONSTRAINT trace_answer_record_check CHECK ((outcome = 'found') = (record IS NOT NULL)),
    CONSTRAINT trace_answer_reason_check CHECK (outcome <> 'restricted' OR reason IS NOT NULL)
);

CREATE TRIGGER trace_request_append_only BEFORE UPDATE OR DELETE ON trace_request
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER trace_request_truncate_refused BEFORE TRUNCATE ON trace_request
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER trace_acknowledgement_append_only BEFORE UPDATE OR DELETE ON trace_acknowledgement
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER trace_acknowledgement_truncate_refused BEFORE TRUNCATE ON trace_acknowledgement
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER trace_answer_append_only BEFORE UPDATE OR DELETE ON trace_answer
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER trace_answer_truncate_refused BEFORE TRUNCATE ON trace_answer
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
