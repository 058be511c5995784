-- The domains that may be taken as deleted when a complete listing does
-- not hold them, deleted at the moment the listing began ($1, ms): live,
-- and neither written nor updated in Clerk since. $2 narrows them to ids
-- (NULL: all). See users_absent.sql.
SELECT d.clerk_domain_id, $1::bigint AS deleted_ms
FROM organization_domains AS d
WHERE ($2::text[] IS NULL OR d.clerk_domain_id = ANY($2))
  AND d.deleted_at IS NULL
  AND d.updated_at < to_timestamp($1 / 1000.0)
  AND coalesce(d.clerk_updated_ms, 0) < $1
