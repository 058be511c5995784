-- The invitation an `organizationInvitation.*` event carries: $9
-- clerk_invitation_id, $10 org id, $11-$13 the public organization data's
-- name/slug/image, $14 email_address, $15 role, $16 status, $17 expires_ms,
-- $18 the accepting user's id (NULL when not said), $19 updated_ms.
SELECT $9::text AS clerk_invitation_id, $10::text AS org_clerk_id, $11::text AS org_name, $12::text AS org_slug,
       $13::text AS org_image_url, $14::text AS email_address, $15::text AS role, $16::text AS status,
       $17::bigint AS expires_ms, $18::text AS user_clerk_id, $19::bigint AS clerk_updated_ms
FROM fresh
