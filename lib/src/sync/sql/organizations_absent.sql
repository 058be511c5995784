-- The organizations a complete listing no longer holds, as deletions at the
-- moment the listing began: $1 reconcile run, $2 that moment (ms),
-- $3 clerk_org_id[] (the candidates found beforehand, or NULL to find them). A row written or
-- updated in Clerk after the listing began is spared.
SELECT o.clerk_org_id, $2::bigint AS deleted_ms
FROM organization AS o
WHERE ($3::text[] IS NULL OR o.clerk_org_id = ANY($3))
  AND o.deleted_at IS NULL
  AND o.updated_at < to_timestamp($2 / 1000.0)
  AND coalesce(o.clerk_updated_ms, 0) < $2
  AND NOT EXISTS (SELECT FROM clerk_reconcile_seen AS s
                  WHERE s.run_id = $1 AND s.kind = 'organization' AND s.clerk_id = o.clerk_org_id)
