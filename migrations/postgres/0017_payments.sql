-- Selling through Stripe and Paddle (issue 24): offers tie a license type
-- to one provider price; checkout references tie a payment back to the
-- customer, license and offer a click was for; each provider event is
-- stored once, by its id, with what became of it; subscriptions and
-- payments remember which license a provider's later events are about.
CREATE TABLE offers (
    id               TEXT PRIMARY KEY,
    license_type_id  TEXT NOT NULL REFERENCES license_types(id),
    name             TEXT NOT NULL,
    provider         TEXT NOT NULL CHECK (provider IN ('stripe', 'paddle')),
    price_id         TEXT NOT NULL,
    checkout_url     TEXT,
    billing          TEXT NOT NULL CHECK (billing IN ('one_time', 'subscription')),
    duration_days    BIGINT CHECK (duration_days IS NULL OR duration_days > 0),
    max_machines     BIGINT CHECK (max_machines IS NULL OR max_machines > 0),
    entitlements     TEXT,
    on_refund        TEXT NOT NULL DEFAULT 'suspend' CHECK (on_refund IN ('suspend', 'leave')),
    retired_at       BIGINT,
    created_at       BIGINT NOT NULL,
    UNIQUE (provider, price_id)
);
CREATE INDEX offers_type_idx ON offers (license_type_id);

CREATE TABLE checkout_references (
    token            TEXT PRIMARY KEY,
    offer_id         TEXT NOT NULL REFERENCES offers(id),
    purpose          TEXT NOT NULL CHECK (purpose IN ('buy', 'upgrade', 'renew')),
    organization_id  TEXT,
    license_id       TEXT,
    email            TEXT,
    created_at       BIGINT NOT NULL
);

CREATE TABLE provider_events (
    provider     TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    received_at  BIGINT NOT NULL,
    body         TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('received', 'applied', 'ignored', 'needs_attention')),
    detail       TEXT NOT NULL DEFAULT '',
    license_id   TEXT,
    settled_at   BIGINT,
    PRIMARY KEY (provider, event_id)
);
CREATE INDEX provider_events_state_idx ON provider_events (state, received_at);
CREATE INDEX provider_events_license_idx ON provider_events (license_id);

CREATE TABLE provider_subscriptions (
    provider         TEXT NOT NULL,
    subscription_id  TEXT NOT NULL,
    license_id       TEXT,
    offer_id         TEXT,
    period_end       BIGINT,
    canceled_at      BIGINT,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (provider, subscription_id)
);
CREATE INDEX provider_subscriptions_license_idx ON provider_subscriptions (license_id);

CREATE TABLE provider_payments (
    provider     TEXT NOT NULL,
    payment_id   TEXT NOT NULL,
    license_id   TEXT NOT NULL,
    offer_id     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (provider, payment_id)
);
