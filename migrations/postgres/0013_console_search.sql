-- The console finds customers and licenses at a million of each (issue
-- 25): by the start of an email, an organization's name or a machine's
-- name (each an index range, in byte order), and by a key's last four
-- characters. Building them reads each table once.
CREATE INDEX licenses_key_last4_idx ON licenses (key_last4);
CREATE INDEX organizations_name_idx ON organizations ((LOWER(name) COLLATE "C"));
CREATE INDEX machines_name_idx ON machines ((LOWER(name) COLLATE "C"));
CREATE INDEX users_email_bytes_idx ON users ((email COLLATE "C"));
