-- Licenses edited one by one (issue 25): a license may have entitlements
-- of its own instead of its type's (`own_entitlements` = 1: the set is in
-- `license_entitlements`), and metadata, string keys and values the vendor
-- searches by. Validation reads a license's own entitlements, so their
-- writes reach the cache's change feed like the license's row.
ALTER TABLE licenses ADD COLUMN own_entitlements BIGINT NOT NULL DEFAULT 0
    CHECK (own_entitlements IN (0, 1));

CREATE TABLE license_entitlements (
    license_id      TEXT NOT NULL REFERENCES licenses(id) ON DELETE CASCADE,
    entitlement_id  TEXT NOT NULL REFERENCES entitlements(id),
    PRIMARY KEY (license_id, entitlement_id)
);
CREATE INDEX license_entitlements_entitlement_idx ON license_entitlements (entitlement_id);

CREATE TABLE license_metadata (
    license_id  TEXT NOT NULL REFERENCES licenses(id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (license_id, key)
);
CREATE INDEX license_metadata_value_idx ON license_metadata (value);

-- The console's audit log lists every event newest first, or one actor's.
CREATE INDEX events_occurred_idx ON events (occurred_at);
CREATE INDEX events_actor_idx ON events (actor_id, occurred_at);

DROP TRIGGER license_changes_license_update;
CREATE TRIGGER license_changes_license_update
AFTER UPDATE OF id, key_digest, key_last4, product_id, license_type_id, organization_id,
    assigned_email, status, is_trial, max_machines, machines_used, issued_at, expires_at,
    first_activated_at, version, created_at, updated_at, own_entitlements ON licenses
BEGIN
    INSERT INTO license_changes (notice) VALUES (OLD.id);
END;

CREATE TRIGGER license_changes_license_entitlement_insert AFTER INSERT ON license_entitlements
BEGIN
    INSERT INTO license_changes (notice) VALUES (NEW.license_id);
END;

CREATE TRIGGER license_changes_license_entitlement_update AFTER UPDATE ON license_entitlements
BEGIN
    INSERT INTO license_changes (notice) VALUES (OLD.license_id);
    INSERT INTO license_changes (notice)
        SELECT NEW.license_id WHERE NEW.license_id IS NOT OLD.license_id;
END;

CREATE TRIGGER license_changes_license_entitlement_delete AFTER DELETE ON license_entitlements
BEGIN
    INSERT INTO license_changes (notice) VALUES (OLD.license_id);
END;
