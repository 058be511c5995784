-- The organizations `incoming_domains` name, for organization_nested.sql:
-- public data without a clock, a placeholder at most.
SELECT org_clerk_id AS clerk_org_id, org_name AS name, org_slug AS slug, org_image_url AS image_url,
       NULL::bigint AS clerk_updated_ms
FROM incoming_domains
