-- 1. Idempotency per message and family.
--
-- Svix delivers one message, under one svix-id, to every endpoint subscribed
-- to its type. Until now the first function to receive a message claimed it
-- for all, even when it only ignored it, and the function that should have
-- applied it answered `duplicate`. A message is now recorded once per
-- family: the family whose rules apply it (users, organizations,
-- memberships), or, for a message a function ignores, that function's own.
ALTER TABLE clerk_webhook_events ADD COLUMN family text;

-- Applied and failed rows were written by the family that handles their
-- type; so were the rare `received` rows.
UPDATE clerk_webhook_events SET family = CASE split_part(event_type, '.', 1)
        WHEN 'user' THEN 'users'
        WHEN 'organization' THEN 'organizations'
        WHEN 'organizationMembership' THEN 'memberships'
        -- Ignored types: which function ignored them was not recorded.
        ELSE 'unknown'
    END;

-- An `ignored` row of a handled type means another function claimed the
-- message first, and the family that should have applied it was answered
-- `duplicate`: it was never applied. Hand it to that family as `received`,
-- so that `clerk-sync replay --status received` (or the scheduled replay)
-- applies it through the usual rules.
UPDATE clerk_webhook_events
    SET status = 'received',
        last_error = 'claimed by a function that ignores this type before 0004; replay applies it'
    WHERE status = 'ignored' AND family <> 'unknown';

ALTER TABLE clerk_webhook_events ALTER COLUMN family SET NOT NULL;
ALTER TABLE clerk_webhook_events ADD CONSTRAINT clerk_webhook_events_svix_id_family_key UNIQUE (svix_id, family);
ALTER TABLE clerk_webhook_events DROP CONSTRAINT clerk_webhook_events_svix_id_key;

-- 2. `stale`: recorded, but older than what the rows already reflect (it
-- changed nothing). Earlier such events stay `processed`: nothing tells
-- them apart after the fact.
ALTER TABLE clerk_webhook_events DROP CONSTRAINT clerk_webhook_events_status_check;
ALTER TABLE clerk_webhook_events ADD CONSTRAINT clerk_webhook_events_status_check
    CHECK (status IN ('received', 'processed', 'stale', 'ignored', 'failed'));

-- 3. A removed membership stays removed.
--
-- Clerk gives a re-added member a new membership id, and a late update of a
-- removed membership id may carry a later updated_at than its removal. The
-- row of a (user, organization) pair therefore keeps what it has seen of
-- each membership id: {"<id>": {"live": {"ms", "role"}} or {"removed": {"ms", "role"}}}.
-- A removal is final for its id; the row shows the newest of the live ids'
-- latest events and the removals (a removal wins a tie), so the result does
-- not depend on the order the events arrive in.
ALTER TABLE user_organizations ADD COLUMN membership_history jsonb NOT NULL DEFAULT '{}';
UPDATE user_organizations
    SET membership_history = jsonb_build_object(
        clerk_membership_id,
        jsonb_build_object(
            CASE WHEN removed_at IS NULL THEN 'live' ELSE 'removed' END,
            jsonb_build_object('ms', clerk_updated_ms, 'role', role)))
    WHERE clerk_membership_id IS NOT NULL;

-- The history after one membership event: a removal replaces whatever was
-- known of its id and is final (the earliest removal time is kept); a live
-- event of an id not removed keeps the newest (ties broken by role, so the
-- result is the same whatever the order).
CREATE FUNCTION clerk_sync_membership_merge(
    history jsonb, membership_id text, clock_ms bigint, member_role text, removed boolean)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    known jsonb := history -> membership_id;
    event jsonb := jsonb_build_object('ms', clock_ms, 'role', member_role);
BEGIN
    IF removed THEN
        IF known ? 'removed' AND ((known #>> '{removed,ms}')::bigint, known #>> '{removed,role}')
                <= (clock_ms, member_role) THEN
            RETURN history;
        END IF;
        RETURN jsonb_set(history, ARRAY[membership_id], jsonb_build_object('removed', event));
    END IF;
    IF known ? 'removed' OR ((known #>> '{live,ms}')::bigint, known #>> '{live,role}') >= (clock_ms, member_role) THEN
        RETURN history;
    END IF;
    RETURN jsonb_set(history, ARRAY[membership_id], jsonb_build_object('live', event));
END $$;

-- What the row shows: among each id's one event (its removal, or its newest
-- live event), the newest; a removal wins a tie, then the larger id. A set
-- of (at most) one row, so that PostgreSQL inlines it into the statement
-- that calls it (a function returning a record is called, which costs more
-- than the rest of the statement).
CREATE FUNCTION clerk_sync_membership_current(history jsonb)
RETURNS TABLE (membership_id text, clock_ms bigint, member_role text, removed boolean)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT key, (event ->> 'ms')::bigint, event ->> 'role', is_removal
    FROM jsonb_each(history) AS h,
         LATERAL (SELECT h.value ? 'removed' AS is_removal,
                         coalesce(h.value -> 'removed', h.value -> 'live') AS event) AS e
    ORDER BY 2 DESC, 4 DESC, 1 DESC
    LIMIT 1
$$;
