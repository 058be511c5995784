-- The rule for an organization's data, from `incoming_organizations`
-- (clerk_org_id, name, slug, image_url, clerk_updated_ms): a webhook's one
-- organization (organization_from_event.sql) or a page of the Backend API's
-- (organizations_from_page.sql). A full organization wins a tie with the
-- reduced nested copy a membership carries, and only then (a tie with the
-- same data changes nothing, so a second reconcile writes nothing). A
-- deleted organization keeps its name for history, so newer data still
-- lands on it (whatever the order the delete arrived in), but deleted_at is
-- never cleared: it stays deleted.
applied AS (
    INSERT INTO organization AS o (clerk_org_id, name, slug, image_url, clerk_updated_ms)
    SELECT clerk_org_id, name, slug, image_url, clerk_updated_ms FROM incoming_organizations
    ON CONFLICT (clerk_org_id) DO UPDATE SET
        name = EXCLUDED.name, slug = EXCLUDED.slug, image_url = EXCLUDED.image_url,
        clerk_updated_ms = EXCLUDED.clerk_updated_ms, updated_at = now()
    WHERE o.clerk_updated_ms IS NULL OR o.clerk_updated_ms < EXCLUDED.clerk_updated_ms
       OR (o.clerk_updated_ms = EXCLUDED.clerk_updated_ms
           AND (o.name, o.slug, o.image_url) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.slug, EXCLUDED.image_url))
    RETURNING o.clerk_org_id AS clerk_id, o.clerk_updated_ms, (xmax = 0) AS created)
