-- The user a `user.created`/`user.updated` event carries: $9 clerk_user_id,
-- $10 email, $11 first_name, $12 last_name, $13 image_url, $14 updated_ms.
SELECT $9::text AS clerk_user_id, $10::text AS email, $11::text AS first_name, $12::text AS last_name,
       $13::text AS image_url, $14::bigint AS clerk_updated_ms
FROM fresh
