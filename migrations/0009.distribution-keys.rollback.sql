-- transactional: false
-- Rolls back pyrelease 0009: drops the two unique indexes (plain DROP INDEX under
-- lock_timeout, as 0004's rollback does). yoyo pairs rollback statements with the
-- migration's from the end: each DROP undoes its CREATE INDEX (also when a later build
-- fails), the two harmless SETs pair with 0009's SET and DO block. Once `pyrelease
-- distribute` has made these indexes the primary keys they are named *_pkey, so this
-- rollback leaves them (a distributed install is rolled back by undistributing first).
DROP INDEX IF EXISTS real_estate.release_event_id_workspace_id_key;
DROP INDEX IF EXISTS real_estate.property_id_workspace_id_key;
SET lock_timeout = '10s';
SET lock_timeout = '10s';
