-- The rule for memberships, from `incoming_memberships` (user_clerk_id,
-- first_name, last_name, image_url, email, org_clerk_id, org_name, org_slug,
-- org_image_url, org_updated_ms, membership_id, role, clock_ms, removed): a
-- webhook's one membership (membership_from_event.sql) or a page of the
-- Backend API's (memberships_from_page.sql).
--
-- The user and organization upserts always take the row lock (DO UPDATE
-- without WHERE) and return the row as committed last, deletion included.
-- The organization's is `org` (organization_nested.sql, composed in front
-- of this file from memberships_nested_organizations.sql).
--
-- A placeholder fills a user row only while no real user event has
-- arrived, and only with newer membership data.
member AS (
    INSERT INTO users AS u (clerk_user_id, first_name, last_name, image_url, email, placeholder_updated_ms)
    SELECT DISTINCT ON (user_clerk_id) user_clerk_id, first_name, last_name, image_url, email, clock_ms
    FROM incoming_memberships
    -- Organizations first: `org` runs to its end (this one-time filter counts
    -- it) before any user row is locked. Every statement that locks both
    -- takes them in that order, so two of them never deadlock.
    WHERE (SELECT count(*) FROM org) >= 0
    ORDER BY user_clerk_id, clock_ms DESC
    ON CONFLICT (clerk_user_id) DO UPDATE SET
        (first_name, last_name, image_url, email, placeholder_updated_ms, updated_at) = (
            SELECT CASE WHEN f.fills THEN EXCLUDED.first_name ELSE u.first_name END,
                   CASE WHEN f.fills THEN EXCLUDED.last_name ELSE u.last_name END,
                   CASE WHEN f.fills THEN EXCLUDED.image_url ELSE u.image_url END,
                   CASE WHEN f.fills THEN EXCLUDED.email ELSE u.email END,
                   CASE WHEN f.fills THEN EXCLUDED.placeholder_updated_ms ELSE u.placeholder_updated_ms END,
                   CASE WHEN f.fills THEN now() ELSE u.updated_at END
            FROM (SELECT u.clerk_updated_ms IS NULL AND u.deleted_at IS NULL
                         AND coalesce(u.placeholder_updated_ms, -1) < EXCLUDED.placeholder_updated_ms AS fills) AS f)
    RETURNING u.id, u.clerk_user_id, u.deleted_at),
incoming AS (
    SELECT DISTINCT ON (member.id, org.id)
           member.id AS user_id, org.id AS organization_id, i.membership_id, i.role, i.clock_ms, i.removed,
           CASE WHEN i.removed THEN to_timestamp(i.clock_ms / 1000.0) END AS removed_at,
           member.deleted_at AS user_deleted_at, org.deleted_at AS org_deleted_at
    FROM incoming_memberships AS i
    JOIN member ON member.clerk_user_id = i.user_clerk_id
    JOIN org ON org.clerk_org_id = i.org_clerk_id
    ORDER BY member.id, org.id, i.clock_ms DESC),
-- The pair's row keeps what it has seen of each membership id
-- (`membership_history`, migration 0004): a removal is final for its id, so
-- a late update of a removed membership never brings it back, and only
-- another membership id (Clerk's re-add) can. The row is written only when
-- the event adds to that history; updated_at moves only when what the row
-- shows changed.
merged AS (
    INSERT INTO user_organizations AS m
        (user_id, organization_id, role, clerk_membership_id, clerk_updated_ms, removed_at, deleted_at,
         membership_history)
    SELECT user_id, organization_id, role, membership_id, clock_ms, removed_at,
           LEAST(removed_at, user_deleted_at, org_deleted_at),
           clerk_sync_membership_merge('{}', membership_id, clock_ms, role, removed)
    FROM incoming
    ON CONFLICT (user_id, organization_id) DO UPDATE SET
        (membership_history, clerk_membership_id, clerk_updated_ms, role, removed_at, deleted_at, updated_at) = (
            SELECT h.history, c.membership_id, c.clock_ms, c.member_role, r.removed_at, r.deleted_at,
                   CASE WHEN (c.membership_id, c.clock_ms, c.member_role, r.removed_at, r.deleted_at)
                             IS NOT DISTINCT FROM
                             (m.clerk_membership_id, m.clerk_updated_ms, m.role, m.removed_at, m.deleted_at)
                        THEN m.updated_at ELSE now() END
            FROM incoming AS i,
                 LATERAL (SELECT clerk_sync_membership_merge(m.membership_history, i.membership_id, i.clock_ms, i.role,
                                                             i.removed) AS history) AS h,
                 LATERAL clerk_sync_membership_current(h.history) AS c,
                 LATERAL (SELECT CASE WHEN c.removed THEN to_timestamp(c.clock_ms / 1000.0) END AS removed_at) AS e,
                 LATERAL (SELECT e.removed_at, LEAST(e.removed_at, i.user_deleted_at, i.org_deleted_at) AS deleted_at) AS r
            WHERE i.user_id = m.user_id AND i.organization_id = m.organization_id)
    -- EXCLUDED is the incoming membership: its id, clock, role, and removal.
    WHERE m.membership_history IS DISTINCT FROM clerk_sync_membership_merge(
              m.membership_history, EXCLUDED.clerk_membership_id, EXCLUDED.clerk_updated_ms, EXCLUDED.role,
              EXCLUDED.removed_at IS NOT NULL)
    RETURNING m.clerk_membership_id AS clerk_id, m.clerk_updated_ms, m.updated_at = now() AS changed,
              (xmax = 0) AS created),
-- Applied when what the row shows changed; an event that only adds to the
-- history (a removal of an id already superseded) is stale.
applied AS (SELECT FROM merged WHERE changed)
