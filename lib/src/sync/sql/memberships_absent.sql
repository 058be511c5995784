-- The memberships of `old_enough` (memberships_old_enough.sql), as removals
-- at the moment the listing began ($1, ms) for the membership rule. The
-- member and organization are passed as the rows hold them, without an
-- organization clock: the rule changes neither.
SELECT u.clerk_user_id AS user_clerk_id, u.first_name, u.last_name, u.image_url, u.email,
       o.clerk_org_id AS org_clerk_id, o.name AS org_name, o.slug AS org_slug, o.image_url AS org_image_url,
       NULL::bigint AS org_updated_ms, m.clerk_membership_id AS membership_id, m.role, $1::bigint AS clock_ms,
       true AS removed
FROM old_enough AS m
JOIN users AS u ON u.id = m.user_id
JOIN organization AS o ON o.id = m.organization_id
