-- $9 clerk_org_id, $10 deleted_ms. Organizations keep their name and slug;
-- the earliest delete time wins.
applied AS (
    INSERT INTO organization AS o (clerk_org_id, deleted_at)
    SELECT $9, to_timestamp($10 / 1000.0) FROM fresh
    ON CONFLICT (clerk_org_id) DO UPDATE SET deleted_at = EXCLUDED.deleted_at, updated_at = now()
    WHERE o.deleted_at IS NULL OR o.deleted_at > EXCLUDED.deleted_at
    RETURNING 1)
