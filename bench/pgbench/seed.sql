-- After migrations/*.sql: 1000 users, 334 organizations, 1000 memberships, and the floor's table.
CREATE TABLE bench_floor (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload jsonb NOT NULL);
INSERT INTO users (clerk_user_id, first_name, email, clerk_updated_ms) SELECT 'user_' || k, 'F', 'u' || k || '@x.example', 1 FROM generate_series(0, 999) k;
INSERT INTO organization (clerk_org_id, name, slug, clerk_updated_ms) SELECT 'org_' || k, 'N', 'slug' || k, 1 FROM generate_series(0, 333) k;
INSERT INTO user_organizations (user_id, organization_id, role, clerk_updated_ms)
  SELECT u.id, o.id, 'org:member', 1 FROM generate_series(0, 999) k JOIN users u ON u.clerk_user_id = 'user_' || k JOIN organization o ON o.clerk_org_id = 'org_' || (k / 3);
VACUUM ANALYZE;
