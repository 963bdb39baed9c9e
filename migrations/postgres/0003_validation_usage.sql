-- Validation outcomes per license, day and code, and the fingerprints and
-- IPs each license was seen from per day: what the support console shows
-- and the key-sharing warning counts. Written in batches by the server
-- (a crash loses at most the last few seconds of these statistics).
CREATE TABLE validation_stats (
    license_id        TEXT NOT NULL REFERENCES licenses(id) ON DELETE CASCADE,
    day               BIGINT NOT NULL,
    code              TEXT NOT NULL,
    count             BIGINT NOT NULL,
    last_at           BIGINT NOT NULL,
    last_ip           TEXT,
    last_fingerprint  TEXT,
    PRIMARY KEY (license_id, day, code)
);

CREATE TABLE validation_sightings (
    license_id  TEXT NOT NULL REFERENCES licenses(id) ON DELETE CASCADE,
    day         BIGINT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('fingerprint', 'ip')),
    value       TEXT NOT NULL,
    count       BIGINT NOT NULL,
    last_at     BIGINT NOT NULL,
    PRIMARY KEY (license_id, day, kind, value)
);
