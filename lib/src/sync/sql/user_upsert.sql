-- $9 clerk_user_id, $10 email, $11 first_name, $12 last_name, $13 image_url,
-- $14 updated_ms. Applies only when newer, and never to a deleted user.
applied AS (
    INSERT INTO users AS u (clerk_user_id, email, first_name, last_name, image_url, clerk_updated_ms)
    SELECT $9, $10, $11, $12, $13, $14 FROM fresh
    ON CONFLICT (clerk_user_id) DO UPDATE SET
        email = EXCLUDED.email, first_name = EXCLUDED.first_name, last_name = EXCLUDED.last_name,
        image_url = EXCLUDED.image_url, clerk_updated_ms = EXCLUDED.clerk_updated_ms, updated_at = now()
    WHERE u.deleted_at IS NULL
      AND (u.clerk_updated_ms IS NULL OR u.clerk_updated_ms < EXCLUDED.clerk_updated_ms)
    RETURNING 1)
