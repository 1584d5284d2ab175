-- The State this registry's database speaks for, recorded by the first start (or command) that finds none.
-- A command run with another FIREARMS_STATE is refused before it signs or records anything: a checkpoint
-- signed under another State reads as a forgery for ever, a backup's manifest would name the wrong State.
CREATE TABLE registry_state (
    singleton   boolean     NOT NULL DEFAULT true
                            CONSTRAINT registry_state_pkey PRIMARY KEY
                            CONSTRAINT registry_state_singleton_check CHECK (singleton),
    state       text        NOT NULL CONSTRAINT registry_state_state_check CHECK (state ~ '^[A-Z]{2}$'),
    recorded_at timestamptz NOT NULL
);
