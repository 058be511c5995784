-- $1 clerk_org_id[]. Runs after organization_delete.sql in the same
-- transaction: ends the organizations' memberships at their deletion time.
UPDATE user_organizations AS m
SET deleted_at = o.deleted_at, updated_at = now()
FROM organization AS o
WHERE o.clerk_org_id = ANY($1) AND m.organization_id = o.id AND o.deleted_at IS NOT NULL
  AND (m.deleted_at IS NULL OR m.deleted_at > o.deleted_at)
