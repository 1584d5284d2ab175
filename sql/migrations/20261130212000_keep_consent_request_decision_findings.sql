-- The findings a received transit-consent request was decided on, made again at the officer's decision (DESIGN §4
-- step 3): a loss or theft reported after the request arrived, here or by a partner, fails them although the
-- findings made on arrival (consent_request_received.findings) passed. A no-objection while an item of the licence
-- is reported lost or stolen is taken only with the officer's acknowledgement, which is kept here (and journaled with
-- the decision), never sent to the requesting State. One row per officer's decision, written with it; append-only.
-- Requests decided before have none: their findings at decision were never made.
CREATE TABLE consent_request_decision (
    requesting_state text        NOT NULL,
    notice_id        text        NOT NULL,
    findings         jsonb       NOT NULL,
    acknowledgement  text,
    decided_at       timestamptz NOT NULL,
    CONSTRAINT consent_request_decision_pkey PRIMARY KEY (requesting_state, notice_id),
    CONSTRAINT consent_request_decision_request_fkey FOREIGN KEY (requesting_state, notice_id)
        REFERENCES consent_request_received (requesting_state, notice_id)
);
CREATE TRIGGER consent_request_decision_append_only BEFORE UPDATE OR DELETE ON consent_request_decision
    FOR EACH ROW EXECUTE FUNCTION forbid_change();
CREATE TRIGGER consent_request_decision_truncate_refused BEFORE TRUNCATE ON consent_request_decision
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
