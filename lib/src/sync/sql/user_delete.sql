-- $9 clerk_user_id, $10 deleted_ms. Deletion is final and scrubs personal
-- data; the row stays for the foreign keys. The earliest delete time wins.
applied AS (
    INSERT INTO users AS u (clerk_user_id, deleted_at)
    SELECT $9, to_timestamp($10 / 1000.0) FROM fresh
    ON CONFLICT (clerk_user_id) DO UPDATE SET
        email = NULL, first_name = NULL, last_name = NULL, image_url = NULL,
        deleted_at = EXCLUDED.deleted_at, updated_at = now()
    WHERE u.deleted_at IS NULL OR u.deleted_at > EXCLUDED.deleted_at
    RETURNING 1)
