-- The permission a `permission.deleted` event names: $9
-- clerk_permission_id, $10 deleted_ms.
SELECT $9::text AS clerk_permission_id, $10::bigint AS deleted_ms
FROM fresh
