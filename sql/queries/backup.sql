-- name: keep_transaction_open
-- The snapshot's transaction idles while pg_dump works: a server's idle_in_transaction_session_timeout must not end it.
SET LOCAL idle_in_transaction_session_timeout = 0;

-- name: export_snapshot
-- The snapshot of the calling (repeatable read) transaction, for pg_dump --snapshot to dump exactly what it sees.
SELECT pg_export_snapshot();

-- name: get_database_size
-- The current database's size on disk, in bytes.
SELECT pg_database_size(current_database());

-- name: list_applied_migrations
-- The names of the migrations applied to this database, in order.
SELECT name FROM schema_migration ORDER BY name;

-- name: count_public_relations
-- Tables, views and sequences in the public schema: a database to restore into holds none.
SELECT count(*)
  FROM pg_catalog.pg_class AS c
  JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S');

-- name: wait_for_migrations
-- Wait until no migration runs, then keep migrations out (shared: backups do not wait for each other) until
-- released. A table rewrite is not MVCC-safe: a snapshot taken before it commits sees that table empty. $1 lock key
SELECT pg_advisory_lock_shared($1);

-- name: release_migrations
-- Let migrations run again. $1 lock key
SELECT pg_advisory_unlock_shared($1);
