-- A page of memberships from the Backend API, as arrays ($1 user id,
-- $2-$5 first/last name, image, email, $6 org id, $7-$9 name/slug/image,
-- $10 org updated_ms, $11 membership id, $12 role, $13 updated_ms); none is
-- a removal (a listing holds the live ones).
SELECT t.*, false AS removed
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::text[], $10::bigint[], $11::text[], $12::text[], $13::bigint[])
    AS t(user_clerk_id, first_name, last_name, image_url, email, org_clerk_id, org_name, org_slug, org_image_url,
         org_updated_ms, membership_id, role, clock_ms)
