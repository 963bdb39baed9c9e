-- Licensor first-cut schema (PostgreSQL).
-- Conventions shared with migrations/sqlite: ids are TEXT (UUIDv7),
-- times are BIGINT unix seconds (UTC), booleans are 0/1 BIGINT, binary
-- values are BYTEA. Names and columns match the SQLite schema one to one.

CREATE TABLE organizations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id                 TEXT PRIMARY KEY,
    organization_id    TEXT REFERENCES organizations(id) ON DELETE SET NULL,
    org_role           TEXT CHECK (org_role IN ('owner', 'member')),
    email              TEXT NOT NULL UNIQUE,
    password_hash      TEXT NOT NULL,
    role               TEXT NOT NULL CHECK (role IN ('customer', 'support', 'admin')),
    email_verified_at  BIGINT,
    reminders_enabled  BIGINT NOT NULL DEFAULT 1 CHECK (reminders_enabled IN (0, 1)),
    disabled_at        BIGINT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX users_organization_idx ON users (organization_id);

CREATE TABLE products (
    id                       TEXT PRIMARY KEY,
    code                     TEXT NOT NULL UNIQUE,
    name                     TEXT NOT NULL,
    description              TEXT NOT NULL DEFAULT '',
    activation_instructions  TEXT NOT NULL DEFAULT '',
    retired_at               BIGINT,
    created_at               BIGINT NOT NULL
);

CREATE TABLE license_types (
    id                        TEXT PRIMARY KEY,
    product_id                TEXT NOT NULL REFERENCES products(id),
    name                      TEXT NOT NULL,
    duration_days             BIGINT CHECK (duration_days IS NULL OR duration_days > 0),
    max_machines              BIGINT NOT NULL CHECK (max_machines > 0),
    floating                  BIGINT NOT NULL DEFAULT 0 CHECK (floating IN (0, 1)),
    heartbeat_window_secs     BIGINT CHECK (heartbeat_window_secs IS NULL OR heartbeat_window_secs > 0),
    grace_days                BIGINT NOT NULL DEFAULT 0 CHECK (grace_days >= 0),
    self_service_trial        BIGINT NOT NULL DEFAULT 0 CHECK (self_service_trial IN (0, 1)),
    customer_may_deactivate   BIGINT NOT NULL DEFAULT 1 CHECK (customer_may_deactivate IN (0, 1)),
    deactivation_limit        BIGINT CHECK (deactivation_limit IS NULL OR deactivation_limit >= 0),
    deactivation_period_days  BIGINT CHECK (deactivation_period_days IS NULL OR deactivation_period_days > 0),
    expiry_from               TEXT NOT NULL DEFAULT 'issue' CHECK (expiry_from IN ('issue', 'first_activation')),
    offline_checkin_days      BIGINT NOT NULL DEFAULT 30 CHECK (offline_checkin_days > 0),
    retired_at                BIGINT,
    created_at                BIGINT NOT NULL,
    UNIQUE (product_id, name)
);

CREATE TABLE entitlements (
    id          TEXT PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE license_type_entitlements (
    license_type_id  TEXT NOT NULL REFERENCES license_types(id) ON DELETE CASCADE,
    entitlement_id   TEXT NOT NULL REFERENCES entitlements(id),
    PRIMARY KEY (license_type_id, entitlement_id)
);
CREATE INDEX license_type_entitlements_entitlement_idx ON license_type_entitlements (entitlement_id);

CREATE TABLE licenses (
    id                  TEXT PRIMARY KEY,
    key_digest          TEXT NOT NULL UNIQUE,
    key_ciphertext      BYTEA NOT NULL,
    key_last4           TEXT NOT NULL,
    product_id          TEXT NOT NULL REFERENCES products(id),
    license_type_id     TEXT NOT NULL REFERENCES license_types(id),
    organization_id     TEXT REFERENCES organizations(id),
    assigned_email      TEXT,
    status              TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'revoked')),
    is_trial            BIGINT NOT NULL DEFAULT 0 CHECK (is_trial IN (0, 1)),
    max_machines        BIGINT NOT NULL CHECK (max_machines > 0),
    machines_used       BIGINT NOT NULL DEFAULT 0 CHECK (machines_used >= 0),
    issued_at           BIGINT NOT NULL,
    expires_at          BIGINT,
    first_activated_at  BIGINT,
    version             BIGINT NOT NULL DEFAULT 1,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX licenses_organization_idx ON licenses (organization_id);
CREATE INDEX licenses_assigned_email_idx ON licenses (assigned_email);
CREATE INDEX licenses_license_type_idx ON licenses (license_type_id);
CREATE INDEX licenses_expires_at_idx ON licenses (expires_at);
-- One self-service trial per organization per product.
CREATE UNIQUE INDEX licenses_one_trial_idx ON licenses (organization_id, product_id) WHERE is_trial = 1;

CREATE TABLE machines (
    id                 TEXT PRIMARY KEY,
    license_id         TEXT NOT NULL REFERENCES licenses(id) ON DELETE CASCADE,
    fingerprint        TEXT NOT NULL,
    name               TEXT,
    platform           TEXT,
    ip                 TEXT,
    activated_at       BIGINT NOT NULL,
    last_heartbeat_at  BIGINT NOT NULL,
    deactivated_at     BIGINT,
    deactivated_by     TEXT
);
-- A fingerprint holds at most one live seat per license.
CREATE UNIQUE INDEX machines_active_fingerprint_idx ON machines (license_id, fingerprint) WHERE deactivated_at IS NULL;
CREATE INDEX machines_fingerprint_idx ON machines (fingerprint);
CREATE INDEX machines_license_deactivated_idx ON machines (license_id, deactivated_at);

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    user_id       TEXT REFERENCES users(id) ON DELETE CASCADE,
    state         TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

CREATE TABLE tokens (
    id               TEXT PRIMARY KEY,
    digest           TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL CHECK (kind IN ('email_verification', 'password_reset', 'invitation', 'license_claim')),
    user_id          TEXT REFERENCES users(id) ON DELETE CASCADE,
    email            TEXT,
    organization_id  TEXT REFERENCES organizations(id) ON DELETE CASCADE,
    license_id       TEXT REFERENCES licenses(id) ON DELETE CASCADE,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    used_at          BIGINT
);
CREATE INDEX tokens_user_kind_idx ON tokens (user_id, kind);
CREATE INDEX tokens_expires_idx ON tokens (expires_at);

CREATE TABLE events (
    id               TEXT PRIMARY KEY,
    occurred_at      BIGINT NOT NULL,
    kind             TEXT NOT NULL,
    actor_kind       TEXT NOT NULL CHECK (actor_kind IN ('system', 'cli', 'customer', 'staff', 'api_token', 'license_key')),
    actor_id         TEXT,
    request_id       TEXT,
    organization_id  TEXT,
    user_id          TEXT,
    license_id       TEXT,
    data             TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_organization_idx ON events (organization_id, occurred_at);
CREATE INDEX events_license_idx ON events (license_id, occurred_at);
CREATE INDEX events_user_idx ON events (user_id, occurred_at);
CREATE INDEX events_kind_idx ON events (kind, occurred_at);

CREATE TABLE webhook_endpoints (
    id                 TEXT PRIMARY KEY,
    url                TEXT NOT NULL,
    secret_ciphertext  BYTEA NOT NULL,
    event_filter       TEXT NOT NULL DEFAULT '*',
    enabled            BIGINT NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at         BIGINT NOT NULL
);

CREATE TABLE outbox (
    id                   TEXT PRIMARY KEY,
    channel              TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
    topic                TEXT NOT NULL,
    recipient            TEXT NOT NULL,
    webhook_endpoint_id  TEXT REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    organization_id      TEXT,
    license_id           TEXT,
    payload              TEXT NOT NULL,
    status               TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'dead')),
    attempts             BIGINT NOT NULL DEFAULT 0,
    next_attempt_at      BIGINT NOT NULL,
    locked_until         BIGINT,
    last_error           TEXT,
    last_status_code     BIGINT,
    created_at           BIGINT NOT NULL,
    sent_at              BIGINT
);
CREATE INDEX outbox_due_idx ON outbox (status, next_attempt_at);
CREATE INDEX outbox_organization_idx ON outbox (organization_id, created_at);

CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    digest        TEXT NOT NULL UNIQUE,
    prefix        TEXT NOT NULL,
    scope         TEXT NOT NULL CHECK (scope IN ('read', 'write')),
    created_by    TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);

CREATE TABLE signing_keys (
    id                      TEXT PRIMARY KEY,
    algorithm               TEXT NOT NULL CHECK (algorithm = 'ed25519'),
    public_key              BYTEA NOT NULL,
    private_key_ciphertext  BYTEA NOT NULL,
    is_active               BIGINT NOT NULL DEFAULT 0 CHECK (is_active IN (0, 1)),
    created_at              BIGINT NOT NULL,
    retired_at              BIGINT
);
-- At most one key signs new files at a time.
CREATE UNIQUE INDEX signing_keys_one_active_idx ON signing_keys (is_active) WHERE is_active = 1;

CREATE TABLE notices (
    license_id  TEXT NOT NULL REFERENCES licenses(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (license_id, kind, expires_at)
);

CREATE TABLE idempotency_keys (
    scope             TEXT NOT NULL,
    idempotency_key   TEXT NOT NULL,
    request_digest    TEXT NOT NULL,
    status_code       BIGINT NOT NULL,
    response_headers  TEXT NOT NULL,
    response_body     BYTEA NOT NULL,
    created_at        BIGINT NOT NULL,
    PRIMARY KEY (scope, idempotency_key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
