-- Core schema: the Clerk mirror (users, organizations, memberships), the raw
-- webhook event log, and the seller accounts that hold encrypted SP-API
-- credentials. Table and column names are a contract with the app.

CREATE TABLE users (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    clerk_user_id     text NOT NULL UNIQUE,
    email             text,
    first_name        text,
    last_name         text,
    image_url         text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    deleted_at        timestamptz,
    -- Order-proof sync bookkeeping. clerk_updated_ms: data.updated_at of the
    -- newest user.created/updated applied (NULL until one has arrived).
    -- placeholder_updated_ms: time of the newest membership event whose
    -- public_user_data filled this row while it is still a placeholder.
    clerk_updated_ms       bigint,
    placeholder_updated_ms bigint
);
-- The UNIQUE constraint already indexes clerk_user_id.
CREATE INDEX users_email_idx ON users (email);

CREATE TABLE organization (
    id                                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    clerk_org_id                           text NOT NULL UNIQUE,
    name                                   text,
    slug                                   text,
    image_url                              text,
    stripe_customer_id                     text UNIQUE,
    stripe_subscription_id                 text,
    stripe_subscription_price_id           text,
    stripe_subscription_status             text,
    stripe_subscription_current_period_end bigint,
    created_at                             timestamptz NOT NULL DEFAULT now(),
    updated_at                             timestamptz NOT NULL DEFAULT now(),
    deleted_at                             timestamptz,
    -- data.updated_at of the newest organization data applied, from an
    -- organization event or the organization nested in a membership event.
    clerk_updated_ms                       bigint
);
CREATE INDEX organization_slug_idx ON organization (slug);

CREATE TABLE user_organizations (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id             uuid NOT NULL REFERENCES users (id),
    organization_id     uuid NOT NULL REFERENCES organization (id),
    role                text NOT NULL,
    clerk_membership_id text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    -- Effective end of the membership: the earliest of its own removal and
    -- the deletion of its user or organization. NULL while active.
    deleted_at          timestamptz,
    -- Time of the newest membership event applied (updated_at for
    -- created/updated, the envelope timestamp for deleted), and the removal
    -- time that event carried (NULL when it left the membership active).
    clerk_updated_ms    bigint NOT NULL,
    removed_at          timestamptz,
    UNIQUE (user_id, organization_id)
);
CREATE INDEX user_organizations_organization_id_idx ON user_organizations (organization_id);

CREATE TABLE clerk_webhook_events (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    svix_id         text NOT NULL UNIQUE,
    event_type      text NOT NULL,
    clerk_object_id text,
    event_timestamp bigint,
    payload         jsonb NOT NULL,
    status          text NOT NULL
                    CHECK (status IN ('received', 'processed', 'ignored', 'failed')),
    attempts        integer NOT NULL DEFAULT 1,
    last_error      text,
    received_at     timestamptz NOT NULL DEFAULT now(),
    processed_at    timestamptz
);
CREATE INDEX clerk_webhook_events_pending_idx
    ON clerk_webhook_events (received_at)
    WHERE status IN ('received', 'failed');
CREATE INDEX clerk_webhook_events_object_idx
    ON clerk_webhook_events (clerk_object_id, received_at DESC);

CREATE TABLE seller_accounts (
    id                          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id             uuid NOT NULL REFERENCES organization (id),
    user_id                     uuid REFERENCES users (id),
    seller_id                   text NOT NULL,
    marketplace_id              text NOT NULL,
    marketplace_code            text,
    marketplace_name            text,
    region                      text CHECK (region IN ('na', 'eu', 'fe')),
    currency                    text CHECK (currency ~ '^[A-Z]{3}$'),
    -- Vault envelopes (ciphertext only, never plaintext).
    lwa_refresh_token_encrypted text,
    lwa_client_id_encrypted     text,
    lwa_client_secret_encrypted text,
    status                      text NOT NULL DEFAULT 'active',
    last_sync_at                timestamptz,
    last_error_at               timestamptz,
    last_error                  text,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, seller_id, marketplace_id)
);
CREATE INDEX seller_accounts_organization_id_idx ON seller_accounts (organization_id);
CREATE INDEX seller_accounts_user_id_idx ON seller_accounts (user_id);
CREATE INDEX seller_accounts_seller_id_idx ON seller_accounts (seller_id);
CREATE INDEX seller_accounts_marketplace_id_idx ON seller_accounts (marketplace_id);
