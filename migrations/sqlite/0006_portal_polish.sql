-- What the portal tells a customer about a license and a product.
--
-- `status_reason`: why support suspended, revoked or reinstated the
-- license, shown on the customer's license page (the audit log keeps every
-- change; this is the one in force). Validation never reads it, so the
-- change feed's triggers leave it out.
-- `download_url`: where customers get the vendor's application; without
-- one, the portal shows copy-paste activation commands instead.
ALTER TABLE licenses ADD COLUMN status_reason TEXT;
ALTER TABLE products ADD COLUMN download_url TEXT;

-- "You already have an account" goes to an address at most once an hour.
CREATE INDEX outbox_recipient_topic_idx ON outbox (recipient, topic, created_at);
