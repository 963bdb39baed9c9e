-- Onboarding and error analytics (the admin dashboard).
--
-- When a license first validated successfully: the last step of the
-- onboarding funnel. Set once, by the usage batch writer.
ALTER TABLE licenses ADD COLUMN first_validated_at BIGINT;

-- Every answer of the key-authenticated API by day, endpoint and code,
-- known license or not (MALFORMED_KEY and NOT_FOUND have none): the error
-- patterns over time. Written in batches like validation_stats.
CREATE TABLE api_outcomes (
    day       BIGINT NOT NULL,
    endpoint  TEXT NOT NULL,
    code      TEXT NOT NULL,
    count     BIGINT NOT NULL,
    PRIMARY KEY (day, endpoint, code)
);

-- Refused requests of that API per day and client address: the top
-- failing IPs.
CREATE TABLE api_refusal_ips (
    day        BIGINT NOT NULL,
    ip         TEXT NOT NULL,
    count      BIGINT NOT NULL,
    last_code  TEXT NOT NULL,
    last_at    BIGINT NOT NULL,
    PRIMARY KEY (day, ip)
);

CREATE INDEX users_role_created_idx ON users (role, created_at);
CREATE INDEX validation_stats_day_idx ON validation_stats (day, code);
