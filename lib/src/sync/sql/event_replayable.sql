-- A replay: yields a row while the stored event still needs processing.
SELECT FROM clerk_webhook_events WHERE svix_id = $1 AND family = $8 AND status IN ('received', 'failed')
