-- The users that may be taken as deleted when a complete listing of the
-- Backend API does not hold them, deleted at the moment the listing began
-- ($1, ms): live, and neither written nor updated in Clerk since (a row
-- newer than the listing is spared). $2 narrows them to ids (NULL: all).
-- Which of them the listing did not hold is told by `statements`
-- (USERS_ABSENT), set against the run's seen ids.
SELECT u.clerk_user_id, $1::bigint AS deleted_ms
FROM users AS u
WHERE ($2::text[] IS NULL OR u.clerk_user_id = ANY($2))
  AND u.deleted_at IS NULL
  AND u.updated_at < to_timestamp($1 / 1000.0)
  AND coalesce(greatest(u.clerk_updated_ms, u.placeholder_updated_ms), 0) < $1
