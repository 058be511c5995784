-- The rule for deleting permissions, from `deleted_permissions`
-- (clerk_permission_id, deleted_ms). Soft and final: roles still reference
-- a deleted permission (whoever resolves a role's permissions skips it),
-- and it keeps its key and name; the earliest delete time wins. A delete
-- before the permission's create leaves a row with only its id and
-- deletion, which later data fills.
applied AS (
    INSERT INTO organization_permissions AS p (clerk_permission_id, deleted_at)
    SELECT clerk_permission_id, to_timestamp(deleted_ms / 1000.0) FROM deleted_permissions
    ON CONFLICT (clerk_permission_id) DO UPDATE SET deleted_at = EXCLUDED.deleted_at, updated_at = now()
    WHERE p.deleted_at IS NULL OR p.deleted_at > EXCLUDED.deleted_at
    RETURNING p.clerk_permission_id AS clerk_id)
