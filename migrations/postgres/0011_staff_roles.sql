-- Staff roles a vendor needs (issue 25): sales and read-only beside support
-- and admin.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('customer', 'support', 'admin', 'sales', 'read_only'));
