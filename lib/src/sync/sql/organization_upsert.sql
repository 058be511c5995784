-- $9 clerk_org_id, $10 name, $11 slug, $12 image_url, $13 updated_ms.
-- A full organization event wins a tie with the reduced nested copy. A
-- deleted organization keeps its name for history, so newer data still
-- lands on it (whatever the order the delete arrived in), but deleted_at is
-- never cleared: it stays deleted.
applied AS (
    INSERT INTO organization AS o (clerk_org_id, name, slug, image_url, clerk_updated_ms)
    SELECT $9, $10, $11, $12, $13 FROM fresh
    ON CONFLICT (clerk_org_id) DO UPDATE SET
        name = EXCLUDED.name, slug = EXCLUDED.slug, image_url = EXCLUDED.image_url,
        clerk_updated_ms = EXCLUDED.clerk_updated_ms, updated_at = now()
    WHERE o.clerk_updated_ms IS NULL OR o.clerk_updated_ms <= EXCLUDED.clerk_updated_ms
    RETURNING 1)
