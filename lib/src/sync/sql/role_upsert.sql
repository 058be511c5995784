-- The rule for a role's data, from `incoming_roles` (clerk_role_id, key,
-- name, description, clerk_updated_ms, and its permissions as arrays:
-- permission_ids, _keys, _names, _descriptions, _types, _updated_ms).
--
-- Each permission it lists is real data for that permission: applied when
-- strictly newer than what the row reflects (a full permission event wins
-- ties), a placeholder when the permission is not known yet; deleted_at is
-- never touched. The rows are always locked and returned (DO UPDATE
-- without WHERE).
listed AS (
    INSERT INTO organization_permissions AS p (clerk_permission_id, key, name, description, type, clerk_updated_ms)
    SELECT DISTINCT ON (t.clerk_permission_id) t.*
    FROM incoming_roles AS r,
         unnest(r.permission_ids, r.permission_keys, r.permission_names, r.permission_descriptions,
                r.permission_types, r.permission_updated_ms)
             AS t(clerk_permission_id, key, name, description, type, clerk_updated_ms)
    ORDER BY t.clerk_permission_id, t.clerk_updated_ms DESC NULLS LAST
    ON CONFLICT (clerk_permission_id) DO UPDATE SET
        (key, name, description, type, clerk_updated_ms, updated_at) = (
            SELECT CASE WHEN n.newer THEN EXCLUDED.key ELSE p.key END,
                   CASE WHEN n.newer THEN EXCLUDED.name ELSE p.name END,
                   CASE WHEN n.newer THEN EXCLUDED.description ELSE p.description END,
                   CASE WHEN n.newer THEN EXCLUDED.type ELSE p.type END,
                   CASE WHEN n.newer THEN EXCLUDED.clerk_updated_ms ELSE p.clerk_updated_ms END,
                   CASE WHEN n.newer THEN now() ELSE p.updated_at END
            FROM (SELECT coalesce(p.clerk_updated_ms, -1) < EXCLUDED.clerk_updated_ms AS newer) AS n)
    RETURNING p.id, p.updated_at = now() AS changed),
-- The role applies when strictly newer; a deleted role keeps converging its
-- data, but deleted_at is never cleared. Its permission set is replaced
-- after this statement, in the same transaction, when it applied
-- (role_permissions.sql).
role AS (
    INSERT INTO organization_roles AS r (clerk_role_id, key, name, description, clerk_updated_ms)
    SELECT clerk_role_id, key, name, description, clerk_updated_ms FROM incoming_roles
    ON CONFLICT (clerk_role_id) DO UPDATE SET
        key = EXCLUDED.key, name = EXCLUDED.name, description = EXCLUDED.description,
        clerk_updated_ms = EXCLUDED.clerk_updated_ms, updated_at = now()
    WHERE r.clerk_updated_ms IS NULL OR r.clerk_updated_ms < EXCLUDED.clerk_updated_ms
    RETURNING r.clerk_role_id AS clerk_id),
-- Applied when the role or one of the permissions it lists changed.
applied AS (SELECT FROM role UNION ALL SELECT FROM listed WHERE changed)
