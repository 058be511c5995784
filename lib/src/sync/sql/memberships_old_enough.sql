-- The live memberships that may be taken as removed when a complete
-- listing does not hold them: neither written nor updated since the moment
-- the listing began ($1, ms). $2 narrows them to membership ids (NULL:
-- all). Which of them the listing did not hold is told by `statements`
-- (MEMBERSHIPS_ABSENT), set against the run's seen ids.
SELECT m.*
FROM user_organizations AS m
WHERE ($2::text[] IS NULL OR m.clerk_membership_id = ANY($2))
  AND m.deleted_at IS NULL
  AND m.updated_at < to_timestamp($1 / 1000.0)
  AND m.clerk_updated_ms < $1
