-- Activation, validation and heartbeat cost the same however many machines
-- a license has: a change to one machine drops only what the cache holds of
-- that machine (`store::cache`), and freeing a floating license's dead
-- seats reads only the machines past their heartbeat window.
--
-- A change feed row is now a notice: '*', a license id, or a license id, a
-- space and a machine's fingerprint (`store::cache::Changes`).
ALTER TABLE license_changes RENAME COLUMN license_id TO notice;

DROP TRIGGER license_changes_machine_insert;
DROP TRIGGER license_changes_machine_update;
DROP TRIGGER license_changes_machine_delete;

CREATE TRIGGER license_changes_machine_insert AFTER INSERT ON machines
BEGIN
    INSERT INTO license_changes (notice) VALUES (NEW.license_id || ' ' || NEW.fingerprint);
END;

CREATE TRIGGER license_changes_machine_update AFTER UPDATE ON machines
BEGIN
    INSERT INTO license_changes (notice) VALUES (OLD.license_id || ' ' || OLD.fingerprint);
    INSERT INTO license_changes (notice)
        SELECT NEW.license_id || ' ' || NEW.fingerprint
        WHERE NEW.license_id IS NOT OLD.license_id OR NEW.fingerprint IS NOT OLD.fingerprint;
END;

CREATE TRIGGER license_changes_machine_delete AFTER DELETE ON machines
BEGIN
    INSERT INTO license_changes (notice) VALUES (OLD.license_id || ' ' || OLD.fingerprint);
END;

CREATE INDEX machines_live_heartbeat_idx ON machines (license_id, last_heartbeat_at)
    WHERE deactivated_at IS NULL;
