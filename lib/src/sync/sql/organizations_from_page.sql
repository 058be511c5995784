-- A page of organizations from the Backend API, as arrays ($1 clerk_org_id,
-- $2 name, $3 slug, $4 image_url, $5 updated_ms); one row per id.
SELECT DISTINCT ON (clerk_org_id) *
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])
    AS t(clerk_org_id, name, slug, image_url, clerk_updated_ms)
ORDER BY clerk_org_id, clerk_updated_ms DESC
