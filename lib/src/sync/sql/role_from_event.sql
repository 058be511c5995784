-- The role a `role.created`/`.updated` event carries: $9 clerk_role_id,
-- $10 key, $11 name, $12 description, $13 updated_ms, and its permissions
-- as arrays: $14 ids, $15 keys, $16 names, $17 descriptions, $18 types,
-- $19 updated_ms (NULL where a nested permission has none).
SELECT $9::text AS clerk_role_id, $10::text AS key, $11::text AS name, $12::text AS description,
       $13::bigint AS clerk_updated_ms, $14::text[] AS permission_ids, $15::text[] AS permission_keys,
       $16::text[] AS permission_names, $17::text[] AS permission_descriptions, $18::text[] AS permission_types,
       $19::bigint[] AS permission_updated_ms
FROM fresh
