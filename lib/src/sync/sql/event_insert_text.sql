-- As event_insert.sql, for a body PostgreSQL refuses as jsonb (e.g. a
-- `\u0000` escape): the raw text is kept as a JSON string.
INSERT INTO clerk_webhook_events
    (svix_id, family, event_type, clerk_object_id, event_timestamp, payload, status, last_error, processed_at)
VALUES ($1, $8, $2, $3, $4, to_jsonb($5), CASE WHEN EXISTS (SELECT FROM applied) THEN $6 ELSE 'stale' END, $7, now())
ON CONFLICT (svix_id, family) DO NOTHING
RETURNING id
