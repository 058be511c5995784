-- The memberships of the users in `ended` (clerk_id) end at their deletion
-- time. Runs after user_delete.sql in the same transaction. `ended` is a
-- webhook's one id or a reconcile batch (see `statements`).
UPDATE user_organizations AS m
SET deleted_at = u.deleted_at, updated_at = now()
FROM users AS u
WHERE u.clerk_user_id IN (SELECT clerk_id FROM ended) AND m.user_id = u.id AND u.deleted_at IS NOT NULL
  AND (m.deleted_at IS NULL OR m.deleted_at > u.deleted_at)
