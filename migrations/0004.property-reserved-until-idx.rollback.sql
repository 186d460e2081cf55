-- transactional: false
-- Rolls back pyrelease 0004: drops the partial index without blocking writers.
DROP INDEX CONCURRENTLY IF EXISTS real_estate.property_reserved_until_idx;
