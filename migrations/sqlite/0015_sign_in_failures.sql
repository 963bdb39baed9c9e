-- Failed sign-ins per account, shared by every instance (issue 27): the
-- growing delay after consecutive failures holds however many instances
-- an attacker spreads guesses over. `account` is the SHA-256 (hex) of the
-- address as typed, lower-cased, so no address is kept; times are unix
-- milliseconds. Rows whose delay ran out 15 minutes ago are purged.
CREATE TABLE sign_in_failures (
    account       TEXT PRIMARY KEY,
    failures      BIGINT NOT NULL,
    locked_until  BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX sign_in_failures_updated_at_idx ON sign_in_failures (updated_at);
