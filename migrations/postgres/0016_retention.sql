-- What validations saw (IP addresses, fingerprints) is erased once older
-- than `validation_retention_days` (issue 27), in batches every minute:
-- indexes that find only what is still to erase. Each is built once over
-- its table when the server migrates.
CREATE INDEX validation_sightings_day_idx ON validation_sightings (day);
CREATE INDEX validation_stats_sighted_day_idx ON validation_stats (day)
    WHERE last_ip IS NOT NULL OR last_fingerprint IS NOT NULL;
CREATE INDEX machines_deactivated_ip_idx ON machines (deactivated_at)
    WHERE ip IS NOT NULL AND deactivated_at IS NOT NULL;
