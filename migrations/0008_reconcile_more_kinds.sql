-- Reconcile lists permissions, roles, domains and invitations too (after
-- users, organizations and memberships): their ids seen and their changes
-- are recorded under the singular names `permission`, `role`, `domain` and
-- `invitation`. Invitations are never deleted by a reconcile (Clerk deletes
-- none), so their ids are not kept as seen; the constraint allows them all
-- the same.
ALTER TABLE clerk_reconcile_seen DROP CONSTRAINT clerk_reconcile_seen_kind_check;
ALTER TABLE clerk_reconcile_seen ADD CONSTRAINT clerk_reconcile_seen_kind_check
    CHECK (kind IN ('user', 'organization', 'membership', 'permission', 'role', 'domain', 'invitation'));

ALTER TABLE clerk_reconcile_changes DROP CONSTRAINT clerk_reconcile_changes_kind_check;
ALTER TABLE clerk_reconcile_changes ADD CONSTRAINT clerk_reconcile_changes_kind_check
    CHECK (kind IN ('user', 'organization', 'membership', 'permission', 'role', 'domain', 'invitation'));
