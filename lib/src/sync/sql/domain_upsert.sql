-- The rule for a domain's data, from `incoming_domains` (clerk_domain_id,
-- org_clerk_id, org_name, org_slug, org_image_url, name, enrollment_mode,
-- verification_status, affiliation_email_address, clerk_updated_ms), after
-- `org` (organization_nested.sql: a placeholder organization when it is not
-- known yet). Applies when strictly newer. A deleted domain keeps
-- converging its data (its delete may have arrived first, leaving a row
-- without data or organization), but deleted_at is never cleared.
applied AS (
    INSERT INTO organization_domains AS d
        (clerk_domain_id, organization_id, name, enrollment_mode, verification_status, affiliation_email_address,
         clerk_updated_ms)
    SELECT n.clerk_domain_id, org.id, n.name, n.enrollment_mode, n.verification_status,
           n.affiliation_email_address, n.clerk_updated_ms
    FROM incoming_domains AS n
    JOIN org ON org.clerk_org_id = n.org_clerk_id
    ON CONFLICT (clerk_domain_id) DO UPDATE SET
        organization_id = EXCLUDED.organization_id, name = EXCLUDED.name, enrollment_mode = EXCLUDED.enrollment_mode,
        verification_status = EXCLUDED.verification_status,
        affiliation_email_address = EXCLUDED.affiliation_email_address,
        clerk_updated_ms = EXCLUDED.clerk_updated_ms, updated_at = now()
    WHERE d.clerk_updated_ms IS NULL OR d.clerk_updated_ms < EXCLUDED.clerk_updated_ms
    RETURNING d.clerk_domain_id AS clerk_id, d.clerk_updated_ms, (xmax = 0) AS created)
