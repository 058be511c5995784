-- Records the event ($1 svix_id, $2 type, $3 object id, $4 time, $5 body,
-- $6 status, $7 error, $8 family): $6 when the effect changed something,
-- `stale` when it changed nothing. One row when it was new for its family.
INSERT INTO clerk_webhook_events
    (svix_id, family, event_type, clerk_object_id, event_timestamp, payload, status, last_error, processed_at)
VALUES ($1, $8, $2, $3, $4, $5::jsonb, CASE WHEN EXISTS (SELECT FROM applied) THEN $6 ELSE 'stale' END, $7, now())
ON CONFLICT (svix_id, family) DO NOTHING
RETURNING id
