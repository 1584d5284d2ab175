-- Every table is guarded (tests/db/test_append_only_sweep.py lists them from the catalogue).
--
-- Tables whose rows hold a current state (a licence's status, a party's status, a partner's delivery
-- state...) had no guard at all: an UPDATE could rewrite a party's name or a licence's number, a DELETE
-- drop a licence, a party, a received request or an outgoing notice, and nothing in the database said no.
-- They keep their rows now and only the columns named on their trigger may change; the history of those
-- changes is in the journal (and the append-only tables beside them). TRUNCATE fires no row trigger: it is
-- refused on every table that keeps records: the queues (journal_pending, pending_registry_key) and
-- migrate()'s own schema_migration excepted.

CREATE FUNCTION change_only_columns() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'table % keeps its rows: DELETE refused', TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF (to_jsonb(NEW) - TG_ARGV) IS DISTINCT FROM (to_jsonb(OLD) - TG_ARGV) THEN
        RAISE EXCEPTION 'table %: only % may change', TG_TABLE_NAME, array_to_string(TG_ARGV, ', ')
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$;

-- registration_duplicate_of is listed because its own trigger (party_registration_duplicate_of_fixed) refuses it.
CREATE TRIGGER party_change_only BEFORE UPDATE OR DELETE ON party
    FOR EACH ROW EXECUTE FUNCTION change_only_columns('status', 'updated_at', 'registration_duplicate_of');
CREATE TRIGGER licence_change_only BEFORE UPDATE OR DELETE ON licence
    FOR EACH ROW EXECUTE FUNCTION change_only_columns('status', 'version', 'valid_from', 'expires_on',
        'exporting_state', 'importing_state', 'transit_states', 'issued_at', 'updated_at');
CREATE TRIGGER licence_counter_change_only BEFORE UPDATE OR DELETE ON licence_counter
    FOR EACH ROW EXECUTE FUNCTION change_only_columns('last');
CREATE TRIGGER foreign_licence_change_only BEFORE UPDATE OR DELETE ON foreign_licence
    FOR EACH ROW EXECUTE FUNCTION change_only_columns('kind', 'version', 'status', 'status_reason',
        'status_effective_at', 'licence', 'confidentiality', 'notice_id', 'updated_at');
CREATE TRIGGER shipment_record_change_only BEFORE UPDATE OR DELETE ON shipment_record
    FOR EACH ROW EXECUTE FUNCTION change_only_columns('dispatched_at', 'items', 'confirmation_requested_at',
        'received_on', 'customs_document', 'received_items', 'confirmed_by', 'updated_at');
CREATE TRIGGER consent_request_received_change_only BEFORE UPDATE OR DELETE ON consent_request_received
    FOR EACH ROW EXECUTE FUNCTION change_only_columns('status', 'decision', 'reason', 'valid_until', 'decided_by',
        'decided_at', 'reply_notice_id', 'superseded_by');
CREATE TRIGGER transit_consent_request_change_only BEFORE UPDATE OR DELETE ON transit_consent_request
    FOR EACH ROW EXECUTE FUNCTION change_only_columns('requested_on', 'shipment_from', 'shipment_to', 'requested_at',
        'requested_by', 'licence_version');
CREATE TRIGGER notice_outbox_change_only BEFORE UPDATE OR DELETE ON notice_outbox
    FOR EACH ROW EXECUTE FUNCTION change_only_columns('sequence', 'envelope', 'status', 'attempts', 'last_error',
        'last_attempt_at', 'next_attempt_at', 'lease_owner', 'lease_until', 'delivered_at', 'receipt',
        'receipt_reason', 'expected_sequence');
CREATE TRIGGER peer_change_only BEFORE UPDATE OR DELETE ON peer
    FOR EACH ROW EXECUTE FUNCTION change_only_columns('base_url', 'enabled', 'last_sent_sequence', 'updated_at');
CREATE TRIGGER peer_key_change_only BEFORE UPDATE OR DELETE ON peer_key
    FOR EACH ROW EXECUTE FUNCTION change_only_columns('revoked_at');
CREATE TRIGGER officer_token_change_only BEFORE UPDATE OR DELETE ON officer_token
    FOR EACH ROW EXECUTE FUNCTION change_only_columns('revoked_at', 'revoked_by');
CREATE TRIGGER registry_key_change_only BEFORE UPDATE OR DELETE ON registry_key
    FOR EACH ROW EXECUTE FUNCTION change_only_columns('revoked_at');
-- A licence's current lines: an amendment rewrites them and drops lines nothing was debited from
-- (licence_line_debited_check refuses the rest); which licence and line a row is stays.
CREATE TRIGGER licence_line_change_only BEFORE UPDATE ON licence_line
    FOR EACH ROW EXECUTE FUNCTION change_only_columns('category', 'quantity', 'serials');
CREATE TRIGGER registry_state_append_only BEFORE UPDATE OR DELETE ON registry_state
    FOR EACH ROW EXECUTE FUNCTION forbid_change();

CREATE TRIGGER check_decision_truncate_refused BEFORE TRUNCATE ON check_decision
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER check_serial_truncate_refused BEFORE TRUNCATE ON check_serial
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER cleared_serial_truncate_refused BEFORE TRUNCATE ON cleared_serial
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER consent_decision_received_truncate_refused BEFORE TRUNCATE ON consent_decision_received
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER consent_request_received_truncate_refused BEFORE TRUNCATE ON consent_request_received
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER customs_check_truncate_refused BEFORE TRUNCATE ON customs_check
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER foreign_licence_truncate_refused BEFORE TRUNCATE ON foreign_licence
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER ledger_entry_truncate_refused BEFORE TRUNCATE ON ledger_entry
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER ledger_serial_truncate_refused BEFORE TRUNCATE ON ledger_serial
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER licence_truncate_refused BEFORE TRUNCATE ON licence
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER licence_counter_truncate_refused BEFORE TRUNCATE ON licence_counter
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER licence_document_truncate_refused BEFORE TRUNCATE ON licence_document
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER licence_event_truncate_refused BEFORE TRUNCATE ON licence_event
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER licence_line_truncate_refused BEFORE TRUNCATE ON licence_line
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER licence_version_truncate_refused BEFORE TRUNCATE ON licence_version
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER notice_inbox_truncate_refused BEFORE TRUNCATE ON notice_inbox
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER notice_outbox_truncate_refused BEFORE TRUNCATE ON notice_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER officer_token_truncate_refused BEFORE TRUNCATE ON officer_token
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER party_truncate_refused BEFORE TRUNCATE ON party
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER passage_tally_truncate_refused BEFORE TRUNCATE ON passage_tally
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER peer_truncate_refused BEFORE TRUNCATE ON peer
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER peer_key_truncate_refused BEFORE TRUNCATE ON peer_key
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER registry_key_truncate_refused BEFORE TRUNCATE ON registry_key
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER registry_state_truncate_refused BEFORE TRUNCATE ON registry_state
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER shipment_passage_truncate_refused BEFORE TRUNCATE ON shipment_passage
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER shipment_record_truncate_refused BEFORE TRUNCATE ON shipment_record
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER transit_consent_truncate_refused BEFORE TRUNCATE ON transit_consent
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER transit_consent_request_truncate_refused BEFORE TRUNCATE ON transit_consent_request
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
