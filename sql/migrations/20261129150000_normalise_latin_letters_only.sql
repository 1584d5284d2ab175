-- A serial's identity form changes the case of a-z only. upper() applies the general case mapping
-- wherever a serial holds other letters (a licence's serials may: a partner sends them), and that
-- makes other characters equal to Latin ones -- long s to S, sharp s to SS under ICU -- a folding the
-- identity must never do (DESIGN §3), and one that depended on the database's locale besides.
-- Registered items' serials are Latin letters, digits and separators only, so their stored
-- serial_normalised and serial_folded do not change; licence lines' serials may, so their index is rebuilt.
CREATE OR REPLACE FUNCTION normalise_serial(serial text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN translate(serial, 'abcdefghijklmnopqrstuvwxyz -./_', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ');

CREATE OR REPLACE FUNCTION fold_serial(serial text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN translate(normalise_serial(serial), 'OILSBZ', '011582');

REINDEX INDEX licence_line_serials_idx;
