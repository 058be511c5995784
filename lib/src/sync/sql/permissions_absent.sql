-- The permissions that may be taken as deleted when a complete listing does
-- not hold them, deleted at the moment the listing began ($1, ms): live,
-- and neither written nor updated in Clerk since. $2 narrows them to ids
-- (NULL: all). See users_absent.sql.
SELECT p.clerk_permission_id, $1::bigint AS deleted_ms
FROM organization_permissions AS p
WHERE ($2::text[] IS NULL OR p.clerk_permission_id = ANY($2))
  AND p.deleted_at IS NULL
  AND p.updated_at < to_timestamp($1 / 1000.0)
  AND coalesce(p.clerk_updated_ms, 0) < $1
