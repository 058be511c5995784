-- A page of domains from the Backend API, as arrays ($1 clerk_domain_id, $2
-- org id, $3-$5 the public organization data's name/slug/image, $6 name, $7
-- enrollment_mode, $8 verification_status, $9 affiliation_email_address,
-- $10 updated_ms); one row per id (the newest).
SELECT DISTINCT ON (clerk_domain_id) *
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::text[], $10::bigint[])
    AS t(clerk_domain_id, org_clerk_id, org_name, org_slug, org_image_url, name, enrollment_mode,
         verification_status, affiliation_email_address, clerk_updated_ms)
ORDER BY clerk_domain_id, clerk_updated_ms DESC
