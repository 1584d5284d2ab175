-- Broker registration numbers that differ only in case or surrounding spaces, registered before
-- 20261129160200 made the number unique per country: that migration could not build its unique index over
-- them (it now leaves it to this one). As with identity duplicates (20261129204000), a duplicate is an
-- explicit, durable fact: registration_duplicate_of names the broker first registered under the number (the
-- earliest created_at, then the lowest party_id), the number is unique among the brokers that are not
-- duplicates, and both records stay, each with its own status (the officer suspends or revokes a copy).
ALTER TABLE party ADD COLUMN registration_duplicate_of uuid
    CONSTRAINT party_registration_duplicate_of_fkey REFERENCES party (party_id)
    CONSTRAINT party_registration_duplicate_of_check CHECK (registration_duplicate_of <> party_id);

-- Every broker of a number but the first registered is marked the first's duplicate, journaled per party in
-- this transaction (the sealer links the entries).
WITH grouped AS (
    SELECT party_id, created_at,
           first_value(party_id) OVER (
               PARTITION BY country,
                            translate(btrim(registration), 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')
               ORDER BY created_at, party_id) AS first_party_id
      FROM party
     WHERE kind = 'broker'
), marked AS (
    UPDATE party AS p
       SET registration_duplicate_of = g.first_party_id
      FROM grouped AS g
     WHERE p.party_id = g.party_id AND g.first_party_id <> g.party_id
    RETURNING p.party_id, p.registration_duplicate_of, g.created_at
), journaled AS (
    INSERT INTO journal_entry (recorded_at, actor, action, entity, entity_id, payload)
    SELECT now(), 'system:migration', 'party.registration-duplicate-marked', 'party', party_id::text,
           jsonb_build_object('registration_duplicate_of', registration_duplicate_of,
                              'migration', '20261129211100_mark_broker_registration_duplicates.sql')
      FROM marked
     ORDER BY created_at, party_id
    RETURNING entry_id
)
INSERT INTO journal_pending (entry_id)
SELECT entry_id FROM journaled;

-- A mark is set here once and never moved or cleared (nothing else sets one: a new registration of a number
-- in the register is refused by the index below).
CREATE FUNCTION party_registration_duplicate_of_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'table party: registration_duplicate_of is set by migration 20261129211100 only and never changed'
        USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER party_registration_duplicate_of_fixed BEFORE UPDATE ON party
    FOR EACH ROW WHEN (NEW.registration_duplicate_of IS DISTINCT FROM OLD.registration_duplicate_of)
    EXECUTE FUNCTION party_registration_duplicate_of_fixed();

-- The number once per country among the brokers that are not duplicates (same name: errors are translated by
-- it). Where 20261129160200 built it already, it is built again with the new predicate.
DROP INDEX IF EXISTS party_broker_registration_key;
CREATE UNIQUE INDEX party_broker_registration_key
    ON party (country, translate(btrim(registration), 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'))
    WHERE kind = 'broker' AND registration_duplicate_of IS NULL;
CREATE INDEX party_registration_duplicate_of_idx ON party (registration_duplicate_of)
    WHERE registration_duplicate_of IS NOT NULL;
