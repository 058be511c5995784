-- A page of roles from the Backend API, as arrays: $1 clerk_role_id, $2 key,
-- $3 name, $4 description, $5 updated_ms; and the permissions they list,
-- flattened: $6 the listing role's position in $1 (from 1), $7 ids, $8 keys,
-- $9 names, $10 descriptions, $11 types, $12 updated_ms (NULL where a nested
-- permission has none). One row per role id (the newest, should a page ever
-- repeat one), its permissions as the arrays role_upsert.sql unnests.
SELECT r.clerk_role_id, r.key, r.name, r.description, r.clerk_updated_ms,
       coalesce(p.permission_ids, '{}') AS permission_ids, coalesce(p.permission_keys, '{}') AS permission_keys,
       coalesce(p.permission_names, '{}') AS permission_names,
       coalesce(p.permission_descriptions, '{}') AS permission_descriptions,
       coalesce(p.permission_types, '{}') AS permission_types,
       coalesce(p.permission_updated_ms, '{}') AS permission_updated_ms
FROM (
    SELECT DISTINCT ON (clerk_role_id) *
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[]) WITH ORDINALITY
        AS t(clerk_role_id, key, name, description, clerk_updated_ms, position)
    ORDER BY clerk_role_id, clerk_updated_ms DESC
) AS r
LEFT JOIN (
    SELECT role_position, array_agg(id ORDER BY n) AS permission_ids, array_agg(key ORDER BY n) AS permission_keys,
           array_agg(name ORDER BY n) AS permission_names,
           array_agg(description ORDER BY n) AS permission_descriptions,
           array_agg(type ORDER BY n) AS permission_types,
           array_agg(updated_ms ORDER BY n) AS permission_updated_ms
    FROM unnest($6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[])
        WITH ORDINALITY AS t(role_position, id, key, name, description, type, updated_ms, n)
    GROUP BY role_position
) AS p ON p.role_position = r.position
