-- no-transaction
-- Staff roles a vendor needs (issue 25): sales and read-only beside support
-- and admin. SQLite keeps a column's CHECK in the table's definition, so the
-- table is rebuilt as SQLite's documentation says (foreign keys off, in a
-- transaction of its own, the rows copied, the old table dropped, the new
-- one renamed): the tables that reference users keep their rows.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
CREATE TABLE users_new (
    id                 TEXT PRIMARY KEY,
    organization_id    TEXT REFERENCES organizations(id) ON DELETE SET NULL,
    org_role           TEXT CHECK (org_role IN ('owner', 'member')),
    email              TEXT NOT NULL UNIQUE,
    password_hash      TEXT NOT NULL,
    role               TEXT NOT NULL
        CHECK (role IN ('customer', 'support', 'admin', 'sales', 'read_only')),
    email_verified_at  BIGINT,
    reminders_enabled  BIGINT NOT NULL DEFAULT 1 CHECK (reminders_enabled IN (0, 1)),
    disabled_at        BIGINT,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    email_key          TEXT
);
INSERT INTO users_new (id, organization_id, org_role, email, password_hash, role,
    email_verified_at, reminders_enabled, disabled_at, created_at, updated_at, email_key)
SELECT id, organization_id, org_role, email, password_hash, role,
    email_verified_at, reminders_enabled, disabled_at, created_at, updated_at, email_key
FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
CREATE INDEX users_organization_idx ON users (organization_id);
CREATE INDEX users_role_created_idx ON users (role, created_at);
CREATE UNIQUE INDEX users_email_key_idx ON users (email_key);
COMMIT;
PRAGMA foreign_keys = ON;
