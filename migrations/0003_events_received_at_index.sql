-- Webhook events by arrival time, for the whole table: `clerk-sync prune`
-- deletes old processed and ignored events oldest first in small batches,
-- and each batch finds its rows through this index instead of scanning the
-- table (and the dead rows earlier batches left) again. `clerk-sync status`
-- lists the latest events through it too.
--
-- On a large existing table, create it beforehand without blocking
-- deliveries, and this migration then has nothing to do:
--   CREATE INDEX CONCURRENTLY IF NOT EXISTS clerk_webhook_events_received_at_idx
--       ON clerk_webhook_events (received_at);
CREATE INDEX IF NOT EXISTS clerk_webhook_events_received_at_idx
    ON clerk_webhook_events (received_at);
