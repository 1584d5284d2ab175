-- An item's history names the licence lines that list its serial (issue 3, History): look them up by
-- the normalised serial through a GIN index over each line's serials in normalised form.
CREATE FUNCTION normalise_serials(serials text[]) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN ARRAY(SELECT normalise_serial(s) FROM unnest(serials) AS s);

CREATE INDEX licence_line_serials_idx ON licence_line USING gin (normalise_serials(serials));
