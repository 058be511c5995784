-- The permission a `permission.created`/`.updated` event carries: $9
-- clerk_permission_id, $10 key, $11 name, $12 description, $13 type, $14
-- updated_ms.
SELECT $9::text AS clerk_permission_id, $10::text AS key, $11::text AS name, $12::text AS description,
       $13::text AS type, $14::bigint AS clerk_updated_ms
FROM fresh
