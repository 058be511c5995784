-- A page of permissions from the Backend API, as arrays ($1
-- clerk_permission_id, $2 key, $3 name, $4 description, $5 type, $6
-- updated_ms); one row per id (the newest, should a page ever repeat one).
SELECT DISTINCT ON (clerk_permission_id) *
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[])
    AS t(clerk_permission_id, key, name, description, type, clerk_updated_ms)
ORDER BY clerk_permission_id, clerk_updated_ms DESC
