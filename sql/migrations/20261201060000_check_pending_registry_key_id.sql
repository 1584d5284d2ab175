-- A key waiting for its rotation's switch has a key id as registry_key's are (registry_key_key_id_check): 32
-- lowercase hexadecimal digits, the name of its private key file in the home's keys folder (firearms.keys.key_path).
-- Without it, a row written behind the application could name a path outside the folder (`../x`), which the
-- operator's overview looked for, or carry an escape sequence to the operator's terminal. The software only ever
-- wrote such ids (firearms.exchange.rotation.rotate). NOT VALID: a row already there is not checked, so the upgrade
-- never fails on one; the overview shows such an id escaped and never looks for its file (firearms.status).
ALTER TABLE pending_registry_key
    ADD CONSTRAINT pending_registry_key_key_id_check CHECK (key_id ~ '^[0-9a-f]{32}$') NOT VALID;
