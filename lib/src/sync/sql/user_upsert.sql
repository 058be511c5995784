-- The rule for a user's data, from `incoming_users` (clerk_user_id, email,
-- first_name, last_name, image_url, clerk_updated_ms): a webhook's one user
-- (user_from_event.sql) or a page of the Backend API's (users_from_page.sql).
-- Applies only when newer, and never to a deleted user.
applied AS (
    INSERT INTO users AS u (clerk_user_id, email, first_name, last_name, image_url, clerk_updated_ms)
    SELECT clerk_user_id, email, first_name, last_name, image_url, clerk_updated_ms FROM incoming_users
    ON CONFLICT (clerk_user_id) DO UPDATE SET
        email = EXCLUDED.email, first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,
        image_url = EXCLUDED.image_url, clerk_updated_ms = EXCLUDED.clerk_updated_ms, updated_at = now()
    WHERE u.deleted_at IS NULL
      AND (u.clerk_updated_ms IS NULL OR u.clerk_updated_ms < EXCLUDED.clerk_updated_ms)
    RETURNING u.clerk_user_id AS clerk_id, u.clerk_updated_ms, (xmax = 0) AS created)
