-- The quantity ledger's invariant in the database itself (DESIGN §3): whoever writes, a line's debits
-- never exceed its issued quantity, and an amendment never takes the issued quantity below them.
-- firearms.ledger.debit already locks the licence row; these triggers hold even for other writers.

CREATE FUNCTION ledger_entry_balance_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    issued bigint;
    used   bigint;
BEGIN
    SELECT quantity INTO issued FROM licence_line
     WHERE licence_id = NEW.licence_id AND line = NEW.line
       FOR UPDATE;
    SELECT coalesce(sum(quantity), 0) INTO used FROM ledger_entry
     WHERE licence_id = NEW.licence_id AND line = NEW.line;
    IF issued IS NOT NULL AND used + NEW.quantity > issued THEN
        RAISE EXCEPTION 'line % of licence % has % left; % debited', NEW.line, NEW.licence_id, issued - used, NEW.quantity
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_entry_balance_check', TABLE = 'ledger_entry';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER ledger_entry_balance_check BEFORE INSERT ON ledger_entry
    FOR EACH ROW EXECUTE FUNCTION ledger_entry_balance_guard();

CREATE FUNCTION licence_line_debited_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    used bigint;
BEGIN
    SELECT coalesce(sum(quantity), 0) INTO used FROM ledger_entry
     WHERE licence_id = OLD.licence_id AND line = OLD.line;
    IF (TG_OP = 'DELETE' AND used > 0) OR (TG_OP = 'UPDATE' AND NEW.quantity < used) THEN
        RAISE EXCEPTION 'line % of licence % had % debited', OLD.line, OLD.licence_id, used
            USING ERRCODE = 'check_violation', CONSTRAINT = 'licence_line_debited_check', TABLE = 'licence_line';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END;
$$;
CREATE TRIGGER licence_line_debited_check BEFORE UPDATE OF quantity OR DELETE ON licence_line
    FOR EACH ROW EXECUTE FUNCTION licence_line_debited_guard();
