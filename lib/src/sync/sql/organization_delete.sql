-- The rule for deleting organizations, from `deleted_organizations`
-- (clerk_org_id, deleted_ms): a webhook's one organization
-- (organization_deleted_from_event.sql) or the organizations a complete
-- listing no longer holds (organizations_absent.sql). Organizations keep
-- their name and slug; the earliest delete time wins.
applied AS (
    INSERT INTO organization AS o (clerk_org_id, deleted_at)
    SELECT clerk_org_id, to_timestamp(deleted_ms / 1000.0) FROM deleted_organizations
    ON CONFLICT (clerk_org_id) DO UPDATE SET deleted_at = EXCLUDED.deleted_at, updated_at = now()
    WHERE o.deleted_at IS NULL OR o.deleted_at > EXCLUDED.deleted_at
    RETURNING o.clerk_org_id AS clerk_id)
