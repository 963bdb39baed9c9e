-- Activation, validation and heartbeat cost the same however many machines
-- a license has: a change to one machine drops only what the cache holds of
-- that machine (`store::cache`), and freeing a floating license's dead
-- seats reads only the machines past their heartbeat window.
--
-- A notice is now '*', a license id, or a license id, a space and a
-- machine's fingerprint (`store::cache::Changes`); identical notices of one
-- transaction are still delivered once.
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

CREATE INDEX machines_live_heartbeat_idx ON machines (license_id, last_heartbeat_at)
    WHERE deactivated_at IS NULL;
