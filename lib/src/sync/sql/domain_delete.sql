-- The rule for deleting domains, from `deleted_domains` (clerk_domain_id,
-- deleted_ms). Soft and final: the row keeps its data; the earliest delete
-- time wins. A delete before anything else leaves a row with only its id
-- and deletion, which later data fills.
applied AS (
    INSERT INTO organization_domains AS d (clerk_domain_id, deleted_at)
    SELECT clerk_domain_id, to_timestamp(deleted_ms / 1000.0) FROM deleted_domains
    ON CONFLICT (clerk_domain_id) DO UPDATE SET deleted_at = EXCLUDED.deleted_at, updated_at = now()
    WHERE d.deleted_at IS NULL OR d.deleted_at > EXCLUDED.deleted_at
    RETURNING d.clerk_domain_id AS clerk_id)
