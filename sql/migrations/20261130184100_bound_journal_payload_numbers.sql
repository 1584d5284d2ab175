-- A journal entry's payload numbers are ones the sealer can read (README "The journal"): under 1e300 in magnitude.
--
-- asyncpg decodes a payload with msgspec, which refuses a number with a fraction beyond the largest float (about
-- 1.8e308: "Number out of range") and an integer of more than 4,300 digits (Python's limit: "Integer value out of
-- range"). An entry written directly by someone with the service's role with such a number in its payload made
-- every run of the sealer fail as it read its batch, and every journal verify with it, as one nested too deeply did
-- (migration 20261130184000). Below the bound every number reads, and one without a canonical form (a fraction,
-- beyond 2^53) is set aside by the sealer as before. journal.record never writes one: canonical() refuses them.
-- NOT VALID: the rows already written are not read again (as 20261130170100).
ALTER TABLE journal_entry
    ADD CONSTRAINT journal_entry_payload_number_check
        CHECK (NOT jsonb_path_exists(payload, 'strict $.** ? (@.type() == "number" && @.abs() >= 1e300)')) NOT VALID;
