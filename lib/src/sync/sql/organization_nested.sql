-- The rule for an organization nested in another object, from
-- `nested_organizations` (clerk_org_id, name, slug, image_url,
-- clerk_updated_ms): the reduced organization a membership carries, or the
-- `public_organization_data` of an invitation or domain (no clock). Real
-- data for the fields it carries: applied when strictly newer (a full
-- organization event wins ties), so one without a clock only ever creates
-- a placeholder. Never touches deleted_at or the Stripe columns. Always
-- takes the row lock (DO UPDATE without WHERE) and returns the row as
-- committed last, deletion included.
org AS (
    INSERT INTO organization AS o (clerk_org_id, name, slug, image_url, clerk_updated_ms)
    SELECT DISTINCT ON (clerk_org_id) clerk_org_id, name, slug, image_url, clerk_updated_ms
    FROM nested_organizations
    ORDER BY clerk_org_id, clerk_updated_ms DESC NULLS LAST
    ON CONFLICT (clerk_org_id) DO UPDATE SET
        (name, slug, image_url, clerk_updated_ms, updated_at) = (
            SELECT CASE WHEN n.newer THEN EXCLUDED.name ELSE o.name END,
                   CASE WHEN n.newer THEN EXCLUDED.slug ELSE o.slug END,
                   CASE WHEN n.newer THEN EXCLUDED.image_url ELSE o.image_url END,
                   CASE WHEN n.newer THEN EXCLUDED.clerk_updated_ms ELSE o.clerk_updated_ms END,
                   CASE WHEN n.newer THEN now() ELSE o.updated_at END
            FROM (SELECT coalesce(o.clerk_updated_ms, -1) < EXCLUDED.clerk_updated_ms AS newer) AS n)
    RETURNING o.id, o.clerk_org_id, o.deleted_at)
