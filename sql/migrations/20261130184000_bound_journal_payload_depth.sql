-- A journal entry's payload is one the sealer can read (README "The journal"): no value more than 64 levels below it.
--
-- asyncpg decodes a payload with msgspec, which gives up on JSON nested about a thousand levels deep (RecursionError,
-- the depth depending on the caller's own stack). An entry written directly by someone with the service's role (it
-- may INSERT into journal_entry and journal_pending) with a payload nested 3,000 arrays deep, 6 kB, made every run
-- of the sealer fail as it read its batch: nothing was linked from then on, and every journal verify (which seals
-- first) failed with it. The sealer cannot set aside an entry it cannot read, so the table refuses it, as it refuses
-- a time the sealer cannot read (migration 20261130170100). 64 levels is ten times what any entry the service
-- writes holds (firearms.journal.MAX_PAYLOAD_DEPTH, which record() checks first), and far from the reader's limit
-- whatever its stack. NOT VALID: the rows already written are not read again (as 20261130170100).
ALTER TABLE journal_entry
    ADD CONSTRAINT journal_entry_payload_depth_check
        CHECK (NOT jsonb_path_exists(payload, 'strict $.**{65 to last}')) NOT VALID;
