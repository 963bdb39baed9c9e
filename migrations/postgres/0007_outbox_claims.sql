-- Who holds a claim on an outbox message: "<host> <listen address>
-- <process start in ms>". A restarted server releases at once the claims
-- its previous process left (on SQLite, the only server, every claim), so
-- their messages do not wait out the lease.
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
