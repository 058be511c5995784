-- membership.sql without the membership upsert: the event row and the two parent upserts.
WITH p AS MATERIALIZED (SELECT floor(random() * 1000)::int AS k), ev AS (INSERT INTO clerk_webhook_events (svix_id, family, event_type, clerk_object_id, event_timestamp, payload, status, last_error, processed_at) VALUES (gen_random_uuid()::text, 'memberships', 'organizationMembership.updated', 'orgmem_' || (SELECT k FROM p), 1, '{"type":"organizationMembership.updated"}'::jsonb, 'processed', NULL, now()) ON CONFLICT (svix_id, family) DO NOTHING RETURNING id),
member AS (INSERT INTO users AS u (clerk_user_id, first_name, last_name, image_url, email, placeholder_updated_ms) SELECT 'user_' || (SELECT k FROM p), 'F', 'M', 'https://img', 'u@x.example', (extract(epoch from clock_timestamp())*1000000)::bigint FROM ev
  ON CONFLICT (clerk_user_id) DO UPDATE SET
    first_name = CASE WHEN (u.clerk_updated_ms IS NULL AND u.deleted_at IS NULL AND coalesce(u.placeholder_updated_ms, -1) < EXCLUDED.placeholder_updated_ms) THEN EXCLUDED.first_name ELSE u.first_name END,
    last_name = CASE WHEN (u.clerk_updated_ms IS NULL AND u.deleted_at IS NULL AND coalesce(u.placeholder_updated_ms, -1) < EXCLUDED.placeholder_updated_ms) THEN EXCLUDED.last_name ELSE u.last_name END,
    image_url = CASE WHEN (u.clerk_updated_ms IS NULL AND u.deleted_at IS NULL AND coalesce(u.placeholder_updated_ms, -1) < EXCLUDED.placeholder_updated_ms) THEN EXCLUDED.image_url ELSE u.image_url END,
    email = CASE WHEN (u.clerk_updated_ms IS NULL AND u.deleted_at IS NULL AND coalesce(u.placeholder_updated_ms, -1) < EXCLUDED.placeholder_updated_ms) THEN EXCLUDED.email ELSE u.email END,
    placeholder_updated_ms = CASE WHEN (u.clerk_updated_ms IS NULL AND u.deleted_at IS NULL AND coalesce(u.placeholder_updated_ms, -1) < EXCLUDED.placeholder_updated_ms) THEN EXCLUDED.placeholder_updated_ms ELSE u.placeholder_updated_ms END,
    updated_at = CASE WHEN (u.clerk_updated_ms IS NULL AND u.deleted_at IS NULL AND coalesce(u.placeholder_updated_ms, -1) < EXCLUDED.placeholder_updated_ms) THEN now() ELSE u.updated_at END
  RETURNING u.id, u.deleted_at),
org AS (INSERT INTO organization AS o (clerk_org_id, name, slug, image_url, clerk_updated_ms) SELECT 'org_' || (SELECT k / 3 FROM p), 'N', 'slug', 'https://img', 0 FROM ev
  ON CONFLICT (clerk_org_id) DO UPDATE SET
    name = CASE WHEN (coalesce(o.clerk_updated_ms, -1) < EXCLUDED.clerk_updated_ms) THEN EXCLUDED.name ELSE o.name END,
    slug = CASE WHEN (coalesce(o.clerk_updated_ms, -1) < EXCLUDED.clerk_updated_ms) THEN EXCLUDED.slug ELSE o.slug END,
    image_url = CASE WHEN (coalesce(o.clerk_updated_ms, -1) < EXCLUDED.clerk_updated_ms) THEN EXCLUDED.image_url ELSE o.image_url END,
    clerk_updated_ms = CASE WHEN (coalesce(o.clerk_updated_ms, -1) < EXCLUDED.clerk_updated_ms) THEN EXCLUDED.clerk_updated_ms ELSE o.clerk_updated_ms END,
    updated_at = CASE WHEN (coalesce(o.clerk_updated_ms, -1) < EXCLUDED.clerk_updated_ms) THEN now() ELSE o.updated_at END
  RETURNING o.id, o.deleted_at),
incoming AS (SELECT member.id AS user_id, org.id AS organization_id, NULL::timestamptz AS removed_at, member.deleted_at AS user_deleted_at, org.deleted_at AS org_deleted_at FROM member, org)
SELECT (SELECT count(*) FROM ev), (SELECT count(*) FROM incoming);