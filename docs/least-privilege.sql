-- Least-privilege database roles for clerk-sync.
--
-- clerk_sync_app    what every function needs when SKIP_DB_MIGRATIONS=true
--                   (clerk-users, clerk-organizations, clerk-memberships,
--                   clerk-invitations, clerk-domains, clerk-roles,
--                   sync-status, seller-accounts, clerk-replay,
--                   clerk-reconcile): rows only, on exactly the tables the
--                   functions use. No DDL, no TRUNCATE, no DELETE on the
--                   event log or the mirror (but for the pairs of a role's
--                   permission set), nothing on the migration history or
--                   the amazon_* tables (no function reads or writes them).
-- clerk_sync_prune  optional: enough for `clerk-sync prune` (read and delete
--                   webhook events, nothing else), for a scheduled prune
--                   that should not hold the owner's password. Without it,
--                   run prune with the owner's DATABASE_URL, as `migrate`.
--
-- Run it as the owner of the tables (the role `clerk-sync migrate` connects
-- as), in the application's database, after migrating:
--
--   clerk-sync migrate
--   psql "$OWNER_DATABASE_URL" -v ON_ERROR_STOP=1 -f docs/least-privilege.sql
--
-- It creates the roles without a password (they cannot log in with one
-- until it is set). Set it interactively, so it lands in no file, shell
-- history or server log:
--
--   psql "$OWNER_DATABASE_URL" -c '\password clerk_sync_app'
--
-- and give the functions postgres://clerk_sync_app:<password>@host/db (the
-- DATABASE_URL secret) with SKIP_DB_MIGRATIONS=true: with migrations on, the
-- first request would try to read the migration history, be refused, and
-- answer 503. Creating roles needs CREATEROLE (on RDS, the master user).
--
-- Re-runnable: each run first revokes everything the roles hold in the
-- schema, then grants this set, so they end with exactly these privileges.
-- Grants are per table and never for future tables: run it again after a
-- migration that adds a table the functions use (the least_privilege test
-- fails when one is missing).

BEGIN;

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'clerk_sync_app') THEN
        CREATE ROLE clerk_sync_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'clerk_sync_prune') THEN
        CREATE ROLE clerk_sync_prune LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO clerk_sync_app, clerk_sync_prune', current_database());
END
$$;

-- PostgreSQL 14 and older let every role create tables in schema public
-- (15 and later no longer do): take that away. Needs the schema's owner; a
-- WARNING here means ask them, or check with \dn+ public that PUBLIC lacks C.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

REVOKE ALL ON ALL TABLES IN SCHEMA public FROM clerk_sync_app, clerk_sync_prune;
REVOKE ALL ON SCHEMA public FROM clerk_sync_app, clerk_sync_prune;
GRANT USAGE ON SCHEMA public TO clerk_sync_app, clerk_sync_prune;

-- Webhooks upsert users, organizations and memberships (INSERT … ON CONFLICT
-- DO UPDATE needs SELECT, INSERT and UPDATE) and soft-delete them (UPDATE);
-- the API functions read them. Nothing is ever deleted.
GRANT SELECT, INSERT, UPDATE ON users, organization, user_organizations TO clerk_sync_app;

-- Webhooks upsert invitations, domains, roles and permissions the same way
-- (deletes are updates: deleted_at); the API functions read roles and
-- permissions to decide what a member may do. A role event that applies
-- replaces the role's permission set: it adds the pairs it lists (INSERT …
-- ON CONFLICT DO NOTHING) and deletes those it no longer lists, the only
-- mirror rows ever deleted. A pair is never updated.
GRANT SELECT, INSERT, UPDATE ON organization_invitations, organization_domains, organization_roles,
    organization_permissions TO clerk_sync_app;
GRANT SELECT, INSERT, DELETE ON organization_role_permissions TO clerk_sync_app;

-- Webhooks record events (INSERT … RETURNING), sync-status reads them,
-- clerk-replay updates the status of failed ones. Only prune deletes.
GRANT SELECT, INSERT, UPDATE ON clerk_webhook_events TO clerk_sync_app;

-- seller-accounts connects, updates, lists and disconnects accounts.
GRANT SELECT, INSERT, UPDATE, DELETE ON seller_accounts TO clerk_sync_app;

-- Reconcile (clerk-reconcile, or `clerk-sync reconcile` with this role)
-- writes the mirror through the grants above (deletions are updates). Its
-- own bookkeeping: a run's row, updated every page, old finished runs
-- deleted (the newest 30 are kept; sync-status reads the last one); the ids
-- a run saw, deleted when it ends; what it changed, added, and deleted with
-- its run by the retention; the lease lock, taken with INSERT … ON CONFLICT
-- DO UPDATE, never deleted. (Deleting a run clears the lock's reference:
-- PostgreSQL runs that action as the table's owner.)
GRANT SELECT, INSERT, UPDATE, DELETE ON clerk_reconcile_runs TO clerk_sync_app;
GRANT SELECT, INSERT, DELETE ON clerk_reconcile_seen TO clerk_sync_app;
GRANT SELECT, INSERT, DELETE ON clerk_reconcile_changes TO clerk_sync_app;
GRANT SELECT, INSERT, UPDATE ON clerk_reconcile_lock TO clerk_sync_app;

-- prune: finds old processed and ignored events and deletes them in batches.
-- Its batches claim rows FOR UPDATE SKIP LOCKED (so concurrent runs share the
-- work), which PostgreSQL allows only with UPDATE on some column: granted on
-- the one that decides nothing (the attempt counter), never on status.
GRANT SELECT, DELETE ON clerk_webhook_events TO clerk_sync_prune;
GRANT UPDATE (attempts) ON clerk_webhook_events TO clerk_sync_prune;

-- Optional hardening, for databases that host nothing else needing it: no
-- temporary tables for anyone (PUBLIC may create them by default).
--   REVOKE TEMPORARY ON DATABASE <db> FROM PUBLIC;

-- With DB_TIMEOUTS=role the functions send no timeouts and rely on the
-- role's own (README, "Through a connection pooler"); the functions'
-- defaults:
--   ALTER ROLE clerk_sync_app SET lock_timeout = '2s';
--   ALTER ROLE clerk_sync_app SET statement_timeout = '5s';
--   ALTER ROLE clerk_sync_app SET idle_in_transaction_session_timeout = '10s';

COMMIT;
