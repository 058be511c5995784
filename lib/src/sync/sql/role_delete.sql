-- The rule for deleting roles, from `deleted_roles` (clerk_role_id,
-- deleted_ms). Soft and final: the row keeps its key, name and permission
-- set; the earliest delete time wins. `role.deleted` carries only the id:
-- a delete before the role's create leaves a row with only its id and
-- deletion, which later data fills.
applied AS (
    INSERT INTO organization_roles AS r (clerk_role_id, deleted_at)
    SELECT clerk_role_id, to_timestamp(deleted_ms / 1000.0) FROM deleted_roles
    ON CONFLICT (clerk_role_id) DO UPDATE SET deleted_at = EXCLUDED.deleted_at, updated_at = now()
    WHERE r.deleted_at IS NULL OR r.deleted_at > EXCLUDED.deleted_at
    RETURNING r.clerk_role_id AS clerk_id)
