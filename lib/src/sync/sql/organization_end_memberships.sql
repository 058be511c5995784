-- The memberships of the organizations in `ended` (clerk_id) end at their
-- deletion time. Runs after organization_delete.sql in the same
-- transaction. `ended` is a webhook's one id or a reconcile batch.
UPDATE user_organizations AS m
SET deleted_at = o.deleted_at, updated_at = now()
FROM organization AS o
WHERE o.clerk_org_id IN (SELECT clerk_id FROM ended) AND m.organization_id = o.id AND o.deleted_at IS NOT NULL
  AND (m.deleted_at IS NULL OR m.deleted_at > o.deleted_at)
