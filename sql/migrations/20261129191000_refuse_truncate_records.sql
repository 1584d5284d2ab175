-- TRUNCATE fires no row trigger: the append-only triggers left the journal's links and checkpoints, and
-- every records table, open to one statement that emptied them. Refuse it as on journal_entry.
CREATE TRIGGER journal_link_truncate_refused BEFORE TRUNCATE ON journal_link
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER journal_checkpoint_truncate_refused BEFORE TRUNCATE ON journal_checkpoint
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER item_truncate_refused BEFORE TRUNCATE ON item
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER marking_truncate_refused BEFORE TRUNCATE ON marking
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER item_event_truncate_refused BEFORE TRUNCATE ON item_event
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
CREATE TRIGGER item_import_truncate_refused BEFORE TRUNCATE ON item_import
    FOR EACH STATEMENT EXECUTE FUNCTION forbid_change();
