-- A new delivery: yields a row while the message is not yet recorded for
-- its family ($1 svix_id, $8 family).
SELECT WHERE NOT EXISTS (SELECT FROM clerk_webhook_events WHERE svix_id = $1 AND family = $8)
