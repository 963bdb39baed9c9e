-- The change feed of license state that validation caches in memory.
--
-- Licensor drops a license's cache entry when its own write commits; these
-- triggers also catch every other write (hand-written SQL, another tool on
-- the file), so that the server sees it within a second: it reads the rows
-- after the last one it applied (`store::cache::follow_changes`) and
-- deletes the rows it has applied. SQLite commits one writer at a time, so
-- `seq` is visible in order and a reader never skips a row.
--
-- `license_id` is the license whose entry to drop, or '*' for every entry
-- (a product, type or entitlement that cached licenses share). Columns
-- validation never reads are left out of the UPDATE triggers: the
-- first-validation mark, written in batches for a million licenses, must
-- not empty the cache.
CREATE TABLE license_changes (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    license_id  TEXT NOT NULL
);

CREATE TRIGGER license_changes_license_update
AFTER UPDATE OF id, key_digest, key_last4, product_id, license_type_id, organization_id,
    assigned_email, status, is_trial, max_machines, machines_used, issued_at, expires_at,
    first_activated_at, version, created_at, updated_at ON licenses
BEGIN
    INSERT INTO license_changes (license_id) VALUES (OLD.id);
END;

CREATE TRIGGER license_changes_license_delete AFTER DELETE ON licenses
BEGIN
    INSERT INTO license_changes (license_id) VALUES (OLD.id);
END;

CREATE TRIGGER license_changes_machine_insert AFTER INSERT ON machines
BEGIN
    INSERT INTO license_changes (license_id) VALUES (NEW.license_id);
END;

CREATE TRIGGER license_changes_machine_update AFTER UPDATE ON machines
BEGIN
    INSERT INTO license_changes (license_id) VALUES (OLD.license_id);
    INSERT INTO license_changes (license_id)
        SELECT NEW.license_id WHERE NEW.license_id IS NOT OLD.license_id;
END;

CREATE TRIGGER license_changes_machine_delete AFTER DELETE ON machines
BEGIN
    INSERT INTO license_changes (license_id) VALUES (OLD.license_id);
END;

CREATE TRIGGER license_changes_product_update AFTER UPDATE OF id, code, name ON products
BEGIN
    INSERT INTO license_changes (license_id) VALUES ('*');
END;

CREATE TRIGGER license_changes_product_delete AFTER DELETE ON products
BEGIN
    INSERT INTO license_changes (license_id) VALUES ('*');
END;

CREATE TRIGGER license_changes_type_update
AFTER UPDATE OF id, product_id, name, duration_days, floating, heartbeat_window_secs, grace_days,
    customer_may_deactivate, deactivation_limit, deactivation_period_days, expiry_from,
    offline_checkin_days ON license_types
BEGIN
    INSERT INTO license_changes (license_id) VALUES ('*');
END;

CREATE TRIGGER license_changes_type_delete AFTER DELETE ON license_types
BEGIN
    INSERT INTO license_changes (license_id) VALUES ('*');
END;

CREATE TRIGGER license_changes_entitlement_update AFTER UPDATE OF id, code ON entitlements
BEGIN
    INSERT INTO license_changes (license_id) VALUES ('*');
END;

CREATE TRIGGER license_changes_entitlement_delete AFTER DELETE ON entitlements
BEGIN
    INSERT INTO license_changes (license_id) VALUES ('*');
END;

-- A new type's entitlements concern no cached license yet.
CREATE TRIGGER license_changes_type_entitlement_insert AFTER INSERT ON license_type_entitlements
WHEN EXISTS (SELECT 1 FROM licenses WHERE license_type_id = NEW.license_type_id)
BEGIN
    INSERT INTO license_changes (license_id) VALUES ('*');
END;

CREATE TRIGGER license_changes_type_entitlement_update AFTER UPDATE ON license_type_entitlements
BEGIN
    INSERT INTO license_changes (license_id) VALUES ('*');
END;

CREATE TRIGGER license_changes_type_entitlement_delete AFTER DELETE ON license_type_entitlements
BEGIN
    INSERT INTO license_changes (license_id) VALUES ('*');
END;
