-- $1 clerk_role_id, $2 the clerk_permission_ids its event lists (NULL: the
-- event did not list them). Runs after role_upsert.sql in the same
-- transaction, which holds the role's row lock: when that statement
-- applied the role (its row changed in this transaction), the role's
-- permissions become exactly those listed. A stale role event changes none,
-- and a concurrent one waits for the lock, then sees this set.
WITH role AS (
    SELECT id FROM organization_roles
    WHERE clerk_role_id = $1 AND updated_at = now() AND $2::text[] IS NOT NULL),
listed AS (
    SELECT role.id AS role_id, p.id AS permission_id
    FROM role JOIN organization_permissions AS p ON p.clerk_permission_id = ANY($2)),
dropped AS (
    DELETE FROM organization_role_permissions AS rp
    USING role
    WHERE rp.role_id = role.id AND rp.permission_id NOT IN (SELECT permission_id FROM listed))
INSERT INTO organization_role_permissions (role_id, permission_id)
SELECT role_id, permission_id FROM listed
ON CONFLICT DO NOTHING
