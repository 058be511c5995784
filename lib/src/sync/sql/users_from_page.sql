-- A page of users from the Backend API, as arrays ($1 clerk_user_id, $2 email,
-- $3 first_name, $4 last_name, $5 image_url, $6 updated_ms); one row per id
-- (the newest, should a page ever repeat one).
SELECT DISTINCT ON (clerk_user_id) *
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[])
    AS t(clerk_user_id, email, first_name, last_name, image_url, clerk_updated_ms)
ORDER BY clerk_user_id, clerk_updated_ms DESC
