-- The memberships of `old_enough` (memberships_old_enough.sql), as removals
-- for the membership rule. The member and organization are passed as the
-- rows hold them, without an organization clock: the rule changes neither.
--
-- A removal is dated when the listing began ($1, ms), unless the run ($3)
-- listed another membership id of the same pair: Clerk holds one
-- membership per pair, so the absent one ended before the listed one's
-- clock, and is dated just before it, which lets the listed one show (a
-- late update of the absent id, newer than the listed one, made the row
-- show the absent id).
SELECT u.clerk_user_id AS user_clerk_id, u.first_name, u.last_name, u.image_url, u.email,
       o.clerk_org_id AS org_clerk_id, o.name AS org_name, o.slug AS org_slug, o.image_url AS org_image_url,
       NULL::bigint AS org_updated_ms, m.clerk_membership_id AS membership_id, m.role,
       LEAST($1::bigint, (
           SELECT min((h.value #>> '{live,ms}')::bigint) - 1
           FROM jsonb_each(m.membership_history) AS h
           JOIN clerk_reconcile_seen AS s
             ON s.run_id = $3::bigint AND s.kind = 'membership' AND s.clerk_id = h.key
           WHERE h.key <> m.clerk_membership_id AND h.value ? 'live')) AS clock_ms,
       true AS removed
FROM old_enough AS m
JOIN users AS u ON u.id = m.user_id
JOIN organization AS o ON o.id = m.organization_id
