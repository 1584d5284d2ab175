-- A journal entry's time is one the sealer can write (README "The journal"): years 1 to 9999, finite.
--
-- The sealer hashes each entry's canonical form, its time in RFC 3339 (firearms.canonical.format_time). A time
-- outside those years has none, and asyncpg cannot even read it (OverflowError; infinity comes back without a time
-- zone): an entry written directly by someone with the service's role (it may INSERT into journal_entry) at
-- 'infinity' or in the year 10000 made every run of the sealer fail, and every journal verify, which seals first,
-- with it. Entries with a payload that has no canonical form the sealer sets aside (journal.unsealable); one it
-- cannot read at all, only the database can refuse. NOT VALID: the rows already written are not read again (a
-- registry that has such a row cannot have sealed since; this migration must not stop it from starting).
ALTER TABLE journal_entry
    ADD CONSTRAINT journal_entry_recorded_at_check
        CHECK (recorded_at >= '0001-01-01 00:00:00+00' AND recorded_at < '10000-01-01 00:00:00+00') NOT VALID;
