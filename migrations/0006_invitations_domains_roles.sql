-- More of Clerk mirrored: organization invitations and domains, and the
-- instance's organization roles and permissions (the `invitations`,
-- `domains` and `roles` families). Table and column names are a contract
-- with the app. As for the core tables: internal uuid keys, foreign keys to
-- our own ids, the Clerk id unique, and clocks that make the final state
-- independent of delivery order (`clerk_updated_ms`: data.updated_at of the
-- newest data applied, NULL while a row is only a placeholder made from a
-- reference; `deleted_at`: final, the earliest delete wins).

CREATE TABLE organization_invitations (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    clerk_invitation_id text NOT NULL UNIQUE,
    organization_id     uuid NOT NULL REFERENCES organization (id),
    email_address       text,
    role                text,
    -- pending, accepted, revoked (or whatever Clerk sends next).
    status              text,
    expires_at          timestamptz,
    -- The user who accepted it, when the payload says (older ones do not).
    user_id             uuid REFERENCES users (id),
    clerk_updated_ms    bigint,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX organization_invitations_organization_idx ON organization_invitations (organization_id);
CREATE INDEX organization_invitations_email_idx ON organization_invitations (email_address);

CREATE TABLE organization_domains (
    id                        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    clerk_domain_id           text NOT NULL UNIQUE,
    -- NULL only for a domain whose delete arrived before anything else.
    organization_id           uuid REFERENCES organization (id),
    name                      text,
    enrollment_mode           text,
    verification_status       text,
    affiliation_email_address text,
    clerk_updated_ms          bigint,
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    deleted_at                timestamptz
);
CREATE INDEX organization_domains_organization_idx ON organization_domains (organization_id);

CREATE TABLE organization_permissions (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    clerk_permission_id text NOT NULL UNIQUE,
    -- org:<feature>:<action>, or org:sys_… for Clerk's system permissions.
    key                 text,
    name                text,
    description         text,
    -- system or custom (Clerk's `type`).
    type                text,
    clerk_updated_ms    bigint,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    deleted_at          timestamptz
);
CREATE INDEX organization_permissions_key_idx ON organization_permissions (key);

CREATE TABLE organization_roles (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    clerk_role_id    text NOT NULL UNIQUE,
    -- What a membership's `role` names (org:admin, org:member, org:<key>).
    key              text,
    name             text,
    description      text,
    clerk_updated_ms bigint,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    deleted_at       timestamptz
);
CREATE INDEX organization_roles_key_idx ON organization_roles (key);

-- A role's permissions, as its newest role event lists them.
CREATE TABLE organization_role_permissions (
    role_id       uuid NOT NULL REFERENCES organization_roles (id),
    permission_id uuid NOT NULL REFERENCES organization_permissions (id),
    PRIMARY KEY (role_id, permission_id)
);
CREATE INDEX organization_role_permissions_permission_idx ON organization_role_permissions (permission_id);
