-- The dates asyncpg's own codec wrote as -infinity and infinity, back to the dates they were (README "Dates").
--
-- asyncpg wrote 0001-01-01 and 9999-12-31 (Python's date.min and date.max) as -infinity and infinity. Python read
-- them back unchanged, but SQL writes such a date into JSON as "infinity": the import authorisation a customs check
-- reads in its one statement (check_context) then converted to no date, and the entry check on an authorisation
-- valid until 9999-12-31 was a 500 at the border. firearms.db now writes every date as itself; this puts back the
-- licences written before (the columns the licence's guard lets change: its content, kept as JSON, always held the
-- dates). Likewise the moment a partner said its licence changed status, kept as -infinity for 0001-01-01T00:00:00Z
-- (read back without a time zone: the next customs check on the licence compared it with an aware time, a 500).
UPDATE licence
   SET valid_from = CASE WHEN valid_from = '-infinity' THEN DATE '0001-01-01'
                         WHEN valid_from = 'infinity' THEN DATE '9999-12-31' ELSE valid_from END,
       expires_on = CASE WHEN expires_on = '-infinity' THEN DATE '0001-01-01'
                         WHEN expires_on = 'infinity' THEN DATE '9999-12-31' ELSE expires_on END
 WHERE NOT isfinite(valid_from) OR NOT isfinite(expires_on);

UPDATE foreign_licence
   SET status_effective_at = CASE WHEN status_effective_at = '-infinity' THEN TIMESTAMPTZ '0001-01-01 00:00:00+00'
                                  ELSE TIMESTAMPTZ '9999-12-31 23:59:59+00' END
 WHERE NOT isfinite(status_effective_at);
