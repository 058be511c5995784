-- The rule for invitations, from `incoming_invitations` (clerk_invitation_id,
-- org_clerk_id, org_name, org_slug, org_image_url, email_address, role,
-- status, expires_ms, user_clerk_id, clerk_updated_ms), after `org`
-- (organization_nested.sql: a placeholder organization when it is not
-- known yet).
--
-- The accepting user becomes a placeholder row (no data, no clock) until
-- its own user event fills it; an existing row is locked and returned as
-- it is.
accepting AS (
    INSERT INTO users AS u (clerk_user_id)
    SELECT DISTINCT user_clerk_id FROM incoming_invitations
    -- Organizations first (see membership.sql): `org` runs to its end before
    -- the user row is locked, so this never deadlocks with a membership event.
    WHERE user_clerk_id IS NOT NULL AND (SELECT count(*) FROM org) >= 0
    ON CONFLICT (clerk_user_id) DO UPDATE SET clerk_user_id = u.clerk_user_id
    RETURNING u.id, u.clerk_user_id),
-- An invitation applies when it is newer by (updated_at, terminal): on a
-- tie a terminal status (accepted, revoked, anything but pending) beats
-- pending, then the greater status, so the result is the same whatever the
-- order. The accepting user is never erased: an event that names one fills
-- a row that has none, newer or not, and a newer event that names none
-- keeps it.
invited AS (
    INSERT INTO organization_invitations AS i
        (clerk_invitation_id, organization_id, email_address, role, status, expires_at, user_id, clerk_updated_ms)
    SELECT n.clerk_invitation_id, org.id, n.email_address, n.role, n.status, to_timestamp(n.expires_ms / 1000.0),
           accepting.id, n.clerk_updated_ms
    FROM incoming_invitations AS n
    JOIN org ON org.clerk_org_id = n.org_clerk_id
    LEFT JOIN accepting ON accepting.clerk_user_id = n.user_clerk_id
    ON CONFLICT (clerk_invitation_id) DO UPDATE SET
        (organization_id, email_address, role, status, expires_at, clerk_updated_ms, user_id, updated_at) = (
            SELECT CASE WHEN c.newer THEN EXCLUDED.organization_id ELSE i.organization_id END,
                   CASE WHEN c.newer THEN EXCLUDED.email_address ELSE i.email_address END,
                   CASE WHEN c.newer THEN EXCLUDED.role ELSE i.role END,
                   CASE WHEN c.newer THEN EXCLUDED.status ELSE i.status END,
                   CASE WHEN c.newer THEN EXCLUDED.expires_at ELSE i.expires_at END,
                   CASE WHEN c.newer THEN EXCLUDED.clerk_updated_ms ELSE i.clerk_updated_ms END,
                   CASE WHEN c.newer THEN coalesce(EXCLUDED.user_id, i.user_id) ELSE coalesce(i.user_id, EXCLUDED.user_id) END,
                   now()
            FROM (SELECT (coalesce(i.clerk_updated_ms, -1), i.status IS DISTINCT FROM 'pending', coalesce(i.status, ''))
                         < (EXCLUDED.clerk_updated_ms, EXCLUDED.status IS DISTINCT FROM 'pending',
                            coalesce(EXCLUDED.status, '')) AS newer) AS c)
    WHERE (coalesce(i.clerk_updated_ms, -1), i.status IS DISTINCT FROM 'pending', coalesce(i.status, ''))
          < (EXCLUDED.clerk_updated_ms, EXCLUDED.status IS DISTINCT FROM 'pending', coalesce(EXCLUDED.status, ''))
       OR (i.user_id IS NULL AND EXCLUDED.user_id IS NOT NULL)
    RETURNING i.clerk_invitation_id AS clerk_id, i.clerk_updated_ms, (xmax = 0) AS created),
applied AS (SELECT FROM invited)
