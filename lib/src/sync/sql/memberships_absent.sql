-- The live memberships a complete listing no longer holds, as removals at
-- the moment the listing began, for the membership rule: $1 reconcile run,
-- $2 that moment (ms), $3 clerk_membership_id[] (the candidates found
-- beforehand, or NULL to find them). The member and organization are passed as the rows hold
-- them, without an organization clock: the rule changes neither. A row
-- written after the listing began, or whose membership clock is later, is
-- spared.
SELECT u.clerk_user_id AS user_clerk_id, u.first_name, u.last_name, u.image_url, u.email,
       o.clerk_org_id AS org_clerk_id, o.name AS org_name, o.slug AS org_slug, o.image_url AS org_image_url,
       NULL::bigint AS org_updated_ms, m.clerk_membership_id AS membership_id, m.role, $2::bigint AS clock_ms,
       true AS removed
FROM user_organizations AS m
JOIN users AS u ON u.id = m.user_id
JOIN organization AS o ON o.id = m.organization_id
WHERE ($3::text[] IS NULL OR m.clerk_membership_id = ANY($3))
  AND m.deleted_at IS NULL
  AND m.updated_at < to_timestamp($2 / 1000.0)
  AND m.clerk_updated_ms < $2
  AND NOT EXISTS (SELECT FROM clerk_reconcile_seen AS s
                  WHERE s.run_id = $1 AND s.kind = 'membership' AND s.clerk_id = m.clerk_membership_id)
