-- The admin outbox page lists messages newest first, all or by status.
CREATE INDEX outbox_created_idx ON outbox (created_at, id);
CREATE INDEX outbox_status_created_idx ON outbox (status, created_at, id);
