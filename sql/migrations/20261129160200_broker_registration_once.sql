-- A broker registration number is in the register once per country (Art. 15), whatever its case or
-- surrounding spaces: 'AT-BR-7' and ' at-br-7' were two entries, and the copy stayed active (and could
-- go on new licences) when the first was suspended. The application now stores the number trimmed;
-- the key compares a-z case-insensitively (translate, not upper(): no locale-dependent case mapping).
--
-- Edited once after release (the only edit of an applied migration; firearms/db.py accepts the digest it had
-- before): a registry already holding such a pair could not build the unique index, so this migration failed
-- there, and nothing the registry offers could merge two records. On such data the index is now left to
-- 20261129211100, which marks the later registered of each pair a duplicate of the first, journaled, and
-- builds it over the others. On any other data (every registry this migration completed on) it does exactly
-- what it did: the same index, nothing else.
DROP INDEX party_broker_registration_key;
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT FROM party
         WHERE kind = 'broker'
         GROUP BY country, translate(btrim(registration), 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')
        HAVING count(*) > 1
    ) THEN
        CREATE UNIQUE INDEX party_broker_registration_key
            ON party (country, translate(btrim(registration), 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'))
            WHERE kind = 'broker';
    END IF;
END;
$$;
