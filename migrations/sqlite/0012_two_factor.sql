-- Two-factor sign-in (issue 25): an account's TOTP secret, sealed under the
-- server secret and bound to the account; `enabled_at` is null while the
-- enrolment waits for its first code. `last_step` is the last 30-second
-- step a code was accepted for: a code is accepted once.
CREATE TABLE two_factor (
    user_id            TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret_ciphertext  BLOB NOT NULL,
    enabled_at         BIGINT,
    last_step          BIGINT NOT NULL DEFAULT 0,
    created_at         BIGINT NOT NULL
);

-- Ten one-time recovery codes per account, stored as SHA-256 digests.
CREATE TABLE recovery_codes (
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_digest  TEXT NOT NULL,
    used_at      BIGINT,
    PRIMARY KEY (user_id, code_digest)
);
