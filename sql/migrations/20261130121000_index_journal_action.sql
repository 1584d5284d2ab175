-- An auditor's list of one action: GET /api/v1/journal?action=licence.revoked (list_journal_entries_of_action).
-- The action is on the entry, the chain position on its link: the index finds the entries of one action, which
-- are then put in chain order by their links. entry_id beside the action lets the join to journal_link read the
-- index alone.
CREATE INDEX journal_entry_action_idx ON journal_entry (action, entry_id);
