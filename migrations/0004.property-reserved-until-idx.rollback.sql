-- transactional: false
-- Rolls back pyrelease 0004: drops the partial index. A plain DROP INDEX, not CONCURRENTLY:
-- it is instant once it has its lock and, failing, leaves the index whole (a failed DROP
-- INDEX CONCURRENTLY would leave it INVALID); `pyrelease` connects with lock_timeout = 10s,
-- so it gives up rather than queueing behind a long transaction.
-- yoyo pairs rollback statements with the migration's statements from the end: the DROP
-- undoes the CREATE INDEX, and the two harmless SETs pair with 0004's SET and DO block, so
-- that when a build fails, yoyo's clean-up does not queue behind the same transaction again
-- (the INVALID index it leaves is rebuilt by the next `pyrelease migrate`).
DROP INDEX IF EXISTS real_estate.property_reserved_until_idx;
SET lock_timeout = '10s';
SET lock_timeout = '10s';
