-- The membership an `organizationMembership.*` event carries: $9 user id,
-- $10-$13 the member's first/last name, image and email, $14 org id,
-- $15-$17 its name/slug/image, $18 its updated_ms, $19 membership id,
-- $20 role, $21 the membership's clock, $22 removed.
SELECT $9::text AS user_clerk_id, $10::text AS first_name, $11::text AS last_name, $12::text AS image_url,
       $13::text AS email, $14::text AS org_clerk_id, $15::text AS org_name, $16::text AS org_slug,
       $17::text AS org_image_url, $18::bigint AS org_updated_ms, $19::text AS membership_id, $20::text AS role,
       $21::bigint AS clock_ms, $22::boolean AS removed
FROM fresh
