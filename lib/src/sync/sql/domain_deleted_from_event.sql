-- The domain an `organizationDomain.deleted` event names: $9
-- clerk_domain_id, $10 deleted_ms.
SELECT $9::text AS clerk_domain_id, $10::bigint AS deleted_ms
FROM fresh
