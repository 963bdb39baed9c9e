-- A leaked signing key can be distrusted (issue 27): a revoked key stays
-- published with the time it was revoked, so verifiers refuse what it
-- signed, and the console lists the licenses whose files it signed last.
ALTER TABLE signing_keys ADD COLUMN revoked_at BIGINT;
ALTER TABLE signing_keys ADD COLUMN revoked_reason TEXT;

-- The key that signed each license's latest license file (`file` = '')
-- and each machine's latest machine file (`file` = the machine id).
-- Written with the usage batch, off the request path (no foreign key: a
-- batch must not fail on a license deleted meanwhile).
CREATE TABLE file_signatures (
    license_id  TEXT NOT NULL,
    file        TEXT NOT NULL,
    kid         TEXT NOT NULL,
    signed_at   BIGINT NOT NULL,
    PRIMARY KEY (license_id, file)
);
CREATE INDEX file_signatures_kid_idx ON file_signatures (kid, license_id);
