-- The rule for deleting users, from `deleted_users` (clerk_user_id,
-- deleted_ms): a webhook's one user (user_deleted_from_event.sql) or the
-- users a complete listing of the Backend API no longer holds
-- (users_absent.sql). Deletion is final and scrubs personal data; the row
-- stays for the foreign keys. The earliest delete time wins.
applied AS (
    INSERT INTO users AS u (clerk_user_id, deleted_at)
    SELECT clerk_user_id, to_timestamp(deleted_ms / 1000.0) FROM deleted_users
    ON CONFLICT (clerk_user_id) DO UPDATE SET
        email = NULL, first_name = NULL, last_name = NULL, image_url = NULL,
        deleted_at = EXCLUDED.deleted_at, updated_at = now()
    WHERE u.deleted_at IS NULL OR u.deleted_at > EXCLUDED.deleted_at
    RETURNING u.clerk_user_id AS clerk_id)
