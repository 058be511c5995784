-- $1 clerk_user_id[]. Runs after user_delete.sql in the same transaction:
-- ends the deleted users' memberships at their deletion time.
UPDATE user_organizations AS m
SET deleted_at = u.deleted_at, updated_at = now()
FROM users AS u
WHERE u.clerk_user_id = ANY($1) AND m.user_id = u.id AND u.deleted_at IS NOT NULL
  AND (m.deleted_at IS NULL OR m.deleted_at > u.deleted_at)
