-- The users a complete listing of the Backend API no longer holds, as
-- deletions at the moment the listing began: $1 reconcile run, $2 that
-- moment (ms), $3 clerk_user_id[] (the candidates found beforehand, or NULL to find them; a row
-- that changed since is dropped by the checks here). A row written or
-- updated in Clerk after the listing began is spared: it may be newer than
-- the listing.
SELECT u.clerk_user_id, $2::bigint AS deleted_ms
FROM users AS u
WHERE ($3::text[] IS NULL OR u.clerk_user_id = ANY($3))
  AND u.deleted_at IS NULL
  AND u.updated_at < to_timestamp($2 / 1000.0)
  AND coalesce(greatest(u.clerk_updated_ms, u.placeholder_updated_ms), 0) < $2
  AND NOT EXISTS (SELECT FROM clerk_reconcile_seen AS s
                  WHERE s.run_id = $1 AND s.kind = 'user' AND s.clerk_id = u.clerk_user_id)
