-- The domain an `organizationDomain.created`/`.updated` event carries: $9
-- clerk_domain_id, $10 org id, $11-$13 the public organization data's
-- name/slug/image, $14 name, $15 enrollment_mode, $16 verification_status,
-- $17 affiliation_email_address, $18 updated_ms.
SELECT $9::text AS clerk_domain_id, $10::text AS org_clerk_id, $11::text AS org_name, $12::text AS org_slug,
       $13::text AS org_image_url, $14::text AS name, $15::text AS enrollment_mode,
       $16::text AS verification_status, $17::text AS affiliation_email_address, $18::bigint AS clerk_updated_ms
FROM fresh
