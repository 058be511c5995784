-- Replays a stored event: claims it if it still needs processing (so a
-- replay racing another changes nothing twice) and counts the attempt. Same
-- parameters as event_insert.sql; the payload stays as stored.
UPDATE clerk_webhook_events
SET status = CASE WHEN EXISTS (SELECT FROM applied) THEN $6 ELSE 'stale' END,
    last_error = $7, attempts = attempts + 1, processed_at = now()
WHERE svix_id = $1 AND family = $8 AND status IN ('received', 'failed')
RETURNING id
