-- A broker registration number is in the register once per country (Art. 15), whatever its case or
-- surrounding spaces: 'AT-BR-7' and ' at-br-7' were two entries, and the copy stayed active (and could
-- go on new licences) when the first was suspended. The application now stores the number trimmed;
-- the key compares a-z case-insensitively (translate, not upper(): no locale-dependent case mapping).
DROP INDEX party_broker_registration_key;
CREATE UNIQUE INDEX party_broker_registration_key
    ON party (country, translate(btrim(registration), 'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'))
    WHERE kind = 'broker';
