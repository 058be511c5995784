-- The rule for a permission's data, from `incoming_permissions`
-- (clerk_permission_id, key, name, description, type, clerk_updated_ms).
-- As for organizations: a full permission event wins a tie with the copy
-- nested in a role event (role_upsert.sql), and only then (a tie with the
-- same data changes nothing). A deleted permission keeps converging its
-- data, but deleted_at is never cleared.
applied AS (
    INSERT INTO organization_permissions AS p (clerk_permission_id, key, name, description, type, clerk_updated_ms)
    SELECT clerk_permission_id, key, name, description, type, clerk_updated_ms FROM incoming_permissions
    ON CONFLICT (clerk_permission_id) DO UPDATE SET
        key = EXCLUDED.key, name = EXCLUDED.name, description = EXCLUDED.description, type = EXCLUDED.type,
        clerk_updated_ms = EXCLUDED.clerk_updated_ms, updated_at = now()
    WHERE p.clerk_updated_ms IS NULL OR p.clerk_updated_ms < EXCLUDED.clerk_updated_ms
       OR (p.clerk_updated_ms = EXCLUDED.clerk_updated_ms
           AND (p.key, p.name, p.description, p.type)
               IS DISTINCT FROM (EXCLUDED.key, EXCLUDED.name, EXCLUDED.description, EXCLUDED.type))
    RETURNING p.clerk_permission_id AS clerk_id, p.clerk_updated_ms, (xmax = 0) AS created)
