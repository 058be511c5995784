-- Reconcile (`clerk-sync reconcile`, the scheduled `clerk-reconcile`):
-- the mirror brought to Clerk's Backend API through the webhooks' rules.

-- One row per run: what it is doing, what it found, and where it stands, so
-- that a run cut short by the function's timeout resumes where it stopped.
CREATE TABLE clerk_reconcile_runs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- `cli` or `schedule`.
    trigger     text NOT NULL,
    dry_run     boolean NOT NULL,
    state       text NOT NULL DEFAULT 'running'
                CHECK (state IN ('running', 'suspended', 'completed', 'failed', 'abandoned')),
    -- Every listing was read to its end, clean: absences were acted on.
    complete    boolean NOT NULL DEFAULT false,
    -- {"users": {"seen", "created", "updated", "deleted", "unchanged"}, "organizations": …, "memberships": …}
    counts      jsonb NOT NULL DEFAULT '{}',
    -- Where the run stands: the listing in progress, its position, when each
    -- listing began (see lib/src/reconcile/checkpoint.rs).
    checkpoint  jsonb NOT NULL DEFAULT '{}',
    -- Requests sent to the Backend API, and the time spent waiting on it
    -- and on the database (they overlap: pages are fetched while others
    -- are written), over every invocation of the run.
    api_requests bigint NOT NULL DEFAULT 0,
    api_ms      bigint NOT NULL DEFAULT 0,
    db_ms       bigint NOT NULL DEFAULT 0,
    error       text,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);
CREATE INDEX clerk_reconcile_runs_started_at_idx ON clerk_reconcile_runs (started_at DESC);

-- The Clerk ids a run's listings returned, so that absence can be told
-- once a listing is complete, across resumed invocations too. Written a
-- page at a time on the billed path: no foreign key (its check per row cost
-- as much as the insert); the run that owns them deletes them.
CREATE TABLE clerk_reconcile_seen (
    run_id   bigint NOT NULL,
    kind     text NOT NULL CHECK (kind IN ('user', 'organization', 'membership')),
    clerk_id text NOT NULL,
    PRIMARY KEY (run_id, kind, clerk_id)
);

-- What each run changed (or, for a dry run, would have): which row, and why.
-- No foreign key either: deleted with their run by the retention.
CREATE TABLE clerk_reconcile_changes (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id           bigint NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('user', 'organization', 'membership')),
    clerk_id         text NOT NULL,
    -- created: absent from the mirror; updated: Clerk's copy is newer;
    -- deleted: absent from Clerk's complete listing.
    action           text NOT NULL CHECK (action IN ('created', 'updated', 'deleted')),
    -- The Clerk clock the row took (none for deletions).
    clerk_updated_ms bigint,
    at               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX clerk_reconcile_changes_run_idx ON clerk_reconcile_changes (run_id, id);

-- Two runs never overlap: a lease on one row, renewed in the transaction of
-- every page a run writes. A holder that stops renewing (a crashed process)
-- loses it when it expires. Works through a transaction-mode pooler, unlike
-- a session advisory lock.
CREATE TABLE clerk_reconcile_lock (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    holder     uuid NOT NULL,
    run_id     bigint REFERENCES clerk_reconcile_runs (id) ON DELETE SET NULL,
    expires_at timestamptz NOT NULL
);
