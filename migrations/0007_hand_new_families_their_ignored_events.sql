-- Before 0006 no function handled invitations, domains, roles or
-- permissions: a message of those types that reached a webhook endpoint
-- (one subscribed to every type, or the catch-all) was recorded `ignored`
-- under the family of the function that got it. Hand one such row per
-- message to the family that applies it now, as `received`, so that
-- `clerk-sync replay --status received` applies it through the new rules
-- (a reconcile brings the same objects from the Backend API). Messages
-- that family already recorded, and the other copies, stay as they are.
WITH handed AS (
    SELECT DISTINCT ON (t.svix_id, t.new_family) t.id, t.new_family
    FROM (
        SELECT id, svix_id,
               CASE split_part(event_type, '.', 1)
                   WHEN 'organizationInvitation' THEN 'invitations'
                   WHEN 'organizationDomain' THEN 'domains'
                   ELSE 'roles'
               END AS new_family
        FROM clerk_webhook_events
        WHERE status = 'ignored'
          AND event_type IN (
              'organizationInvitation.created', 'organizationInvitation.accepted', 'organizationInvitation.revoked',
              'organizationDomain.created', 'organizationDomain.updated', 'organizationDomain.deleted',
              'role.created', 'role.updated', 'role.deleted',
              'permission.created', 'permission.updated', 'permission.deleted')
    ) AS t
    WHERE NOT EXISTS (SELECT FROM clerk_webhook_events AS e WHERE e.svix_id = t.svix_id AND e.family = t.new_family)
    ORDER BY t.svix_id, t.new_family, t.id
)
UPDATE clerk_webhook_events AS e
SET family = handed.new_family, status = 'received',
    last_error = 'recorded ignored before this type was handled (0007); replay applies it'
FROM handed
WHERE e.id = handed.id;
