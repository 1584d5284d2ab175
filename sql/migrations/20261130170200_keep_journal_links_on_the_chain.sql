-- A journal link's position is on the chain: 1, 2, 3 ... (README "The journal").
--
-- Verification walks positions from 1 up; the sealer continues from the highest. A link at position 0 or below was
-- in neither walk, yet its entry counted as linked, so no verification looked for it: as the service's role (it may
-- INSERT into journal_link, the sealer's table), linking a queued entry at -1 and taking it off the queue hid it
-- from every verification, the full walk's too, and journal verify said intact. NOT VALID: a registry that holds
-- such a link must still start; verification names it (firearms.journal.verify).
ALTER TABLE journal_link ADD CONSTRAINT journal_link_seq_check CHECK (seq > 0) NOT VALID;
