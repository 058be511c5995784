-- A page of invitations from the Backend API, as arrays ($1
-- clerk_invitation_id, $2 org id, $3-$5 the public organization data's
-- name/slug/image, $6 email_address, $7 role, $8 status, $9 expires_ms, $10
-- the accepting user's id (NULL when not said), $11 updated_ms); one row per
-- id (the newest).
SELECT DISTINCT ON (clerk_invitation_id) *
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::bigint[], $10::text[], $11::bigint[])
    AS t(clerk_invitation_id, org_clerk_id, org_name, org_slug, org_image_url, email_address, role, status,
         expires_ms, user_clerk_id, clerk_updated_ms)
ORDER BY clerk_invitation_id, clerk_updated_ms DESC
