-- The organization an `organization.created`/`.updated` event carries:
-- $9 clerk_org_id, $10 name, $11 slug, $12 image_url, $13 updated_ms.
SELECT $9::text AS clerk_org_id, $10::text AS name, $11::text AS slug, $12::text AS image_url,
       $13::bigint AS clerk_updated_ms
FROM fresh
