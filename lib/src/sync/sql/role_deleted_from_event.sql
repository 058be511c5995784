-- The role a `role.deleted` event names: $9 clerk_role_id, $10 deleted_ms.
SELECT $9::text AS clerk_role_id, $10::bigint AS deleted_ms
FROM fresh
