-- The organizations `incoming_memberships` carry, for organization_nested.sql.
SELECT org_clerk_id AS clerk_org_id, org_name AS name, org_slug AS slug, org_image_url AS image_url,
       org_updated_ms AS clerk_updated_ms
FROM incoming_memberships
