-- The change feed of license state that validation caches in memory.
--
-- Every write to what the cache holds, by Licensor or by anyone else
-- (hand-written SQL, another tool), sends `NOTIFY licensor_license_cache`
-- from these triggers when its transaction commits; every instance listens
-- and drops the entry (`store::cache::listen`). The payload is the
-- license's id, or '*' for every entry (a product, type or entitlement
-- that cached licenses share). Identical notices of one transaction are
-- delivered once. Columns validation never reads are left out of the
-- UPDATE triggers: the first-validation mark, written in batches for a
-- million licenses, must not empty the caches.
CREATE FUNCTION licensor_license_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    type_id TEXT;
BEGIN
    IF TG_TABLE_NAME = 'licenses' THEN
        PERFORM pg_notify('licensor_license_cache', OLD.id);
    ELSIF TG_TABLE_NAME = 'machines' THEN
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

CREATE TRIGGER license_changes_license_update
AFTER UPDATE OF id, key_digest, key_last4, product_id, license_type_id, organization_id,
    assigned_email, status, is_trial, max_machines, machines_used, issued_at, expires_at,
    first_activated_at, version, created_at, updated_at ON licenses
FOR EACH ROW EXECUTE FUNCTION licensor_license_changed();

CREATE TRIGGER license_changes_license_delete AFTER DELETE ON licenses
FOR EACH ROW EXECUTE FUNCTION licensor_license_changed();

CREATE TRIGGER license_changes_machine AFTER INSERT OR UPDATE OR DELETE ON machines
FOR EACH ROW EXECUTE FUNCTION licensor_license_changed();

CREATE TRIGGER license_changes_product_update AFTER UPDATE OF id, code, name ON products
FOR EACH ROW EXECUTE FUNCTION licensor_license_changed();

CREATE TRIGGER license_changes_product_delete AFTER DELETE ON products
FOR EACH ROW EXECUTE FUNCTION licensor_license_changed();

CREATE TRIGGER license_changes_type_update
AFTER UPDATE OF id, product_id, name, duration_days, floating, heartbeat_window_secs, grace_days,
    customer_may_deactivate, deactivation_limit, deactivation_period_days, expiry_from,
    offline_checkin_days ON license_types
FOR EACH ROW EXECUTE FUNCTION licensor_license_changed();

CREATE TRIGGER license_changes_type_delete AFTER DELETE ON license_types
FOR EACH ROW EXECUTE FUNCTION licensor_license_changed();

CREATE TRIGGER license_changes_entitlement_update AFTER UPDATE OF id, code ON entitlements
FOR EACH ROW EXECUTE FUNCTION licensor_license_changed();

CREATE TRIGGER license_changes_entitlement_delete AFTER DELETE ON entitlements
FOR EACH ROW EXECUTE FUNCTION licensor_license_changed();

CREATE TRIGGER license_changes_type_entitlements
AFTER INSERT OR UPDATE OR DELETE ON license_type_entitlements
FOR EACH ROW EXECUTE FUNCTION licensor_license_changed();
