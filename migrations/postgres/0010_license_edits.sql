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

CREATE OR REPLACE FUNCTION licensor_license_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    type_id TEXT;
BEGIN
    IF TG_TABLE_NAME = 'licenses' THEN
        PERFORM pg_notify('licensor_license_cache', OLD.id);
    ELSIF TG_TABLE_NAME = 'machines' THEN
        IF TG_OP <> 'INSERT' THEN
            PERFORM pg_notify('licensor_license_cache', OLD.license_id || ' ' || OLD.fingerprint);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            PERFORM pg_notify('licensor_license_cache', NEW.license_id || ' ' || NEW.fingerprint);
        END IF;
    ELSIF TG_TABLE_NAME = 'license_entitlements' THEN
        IF TG_OP <> 'INSERT' THEN
            PERFORM pg_notify('licensor_license_cache', OLD.license_id);
        END IF;
        IF TG_OP <> 'DELETE' THEN
            PERFORM pg_notify('licensor_license_cache', NEW.license_id);
        END IF;
    ELSIF TG_TABLE_NAME = 'license_type_entitlements' THEN
        -- A new type's entitlements concern no cached license yet.
        IF TG_OP = 'UPDATE' THEN
            PERFORM pg_notify('licensor_license_cache', '*');
        ELSE
            IF TG_OP = 'DELETE' THEN
                type_id := OLD.license_type_id;
            ELSE
                type_id := NEW.license_type_id;
            END IF;
            IF EXISTS (SELECT 1 FROM licenses WHERE license_type_id = type_id) THEN
                PERFORM pg_notify('licensor_license_cache', '*');
            END IF;
        END IF;
    ELSE
        PERFORM pg_notify('licensor_license_cache', '*');
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER license_changes_license_update ON licenses;
CREATE TRIGGER license_changes_license_update
AFTER UPDATE OF id, key_digest, key_last4, product_id, license_type_id, organization_id,
    assigned_email, status, is_trial, max_machines, machines_used, issued_at, expires_at,
    first_activated_at, version, created_at, updated_at, own_entitlements ON licenses
FOR EACH ROW EXECUTE FUNCTION licensor_license_changed();

CREATE TRIGGER license_changes_license_entitlements
AFTER INSERT OR UPDATE OR DELETE ON license_entitlements
FOR EACH ROW EXECUTE FUNCTION licensor_license_changed();
