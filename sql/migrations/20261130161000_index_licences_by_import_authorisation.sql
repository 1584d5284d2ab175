-- Protocol Art. 10(2)(a): an import authorisation's quantity is a balance shared by every export licence drawn on
-- it. The export gate (firearms/gates.py) sums what the other licences naming an authorisation hold of it, and the
-- exit check what left under them (sql/queries/checks.sql, list_authorisation_cover): both find the licences whose
-- version names the authorisation (its issuing State and number, in the version's content) by this index, not by
-- reading every version.
CREATE INDEX licence_version_import_authorisation_idx
    ON licence_version ((content -> 'import_authorisation' ->> 'state'), (content -> 'import_authorisation' ->> 'number'));
