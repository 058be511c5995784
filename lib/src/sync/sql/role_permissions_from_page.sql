-- role_permissions.sql for a page of roles: $1 the clerk_role_ids whose
-- permissions the page lists (a role that lists none is not here: its set
-- stays), and the pairs they list, $2 clerk_role_id and $3
-- clerk_permission_id. Runs after the page's role statement, in its
-- transaction, which holds the roles' row locks: each role that statement
-- applied (its row changed in this transaction) gets exactly the
-- permissions listed; a role already as new keeps its set.
WITH role AS (
    SELECT id, clerk_role_id FROM organization_roles
    WHERE clerk_role_id = ANY($1::text[]) AND updated_at = now()),
listed AS (
    SELECT DISTINCT role.id AS role_id, p.id AS permission_id
    FROM unnest($2::text[], $3::text[]) AS t(clerk_role_id, clerk_permission_id)
    JOIN role ON role.clerk_role_id = t.clerk_role_id
    JOIN organization_permissions AS p ON p.clerk_permission_id = t.clerk_permission_id),
dropped AS (
    DELETE FROM organization_role_permissions AS rp
    USING role
    WHERE rp.role_id = role.id
      AND NOT EXISTS (SELECT FROM listed WHERE listed.role_id = rp.role_id AND listed.permission_id = rp.permission_id))
INSERT INTO organization_role_permissions (role_id, permission_id)
SELECT role_id, permission_id FROM listed
ON CONFLICT DO NOTHING
