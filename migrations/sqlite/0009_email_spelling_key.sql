-- One account per look of an address: `email_key` is the address with each
-- non-ASCII part replaced by its UTS #39 confusable skeleton
-- (`EmailAddress::spelling_key`), so that Cyrillic `пкт@` and Greek `πκτ@`,
-- or Arabic and Persian spellings of one name, cannot be two accounts.
-- Existing rows get their key when the server starts
-- (`store::users::backfill_email_keys`); two existing accounts that look
-- alike keep the second without one, and the server logs both.
ALTER TABLE users ADD COLUMN email_key TEXT;
CREATE UNIQUE INDEX users_email_key_idx ON users (email_key);
