-- Rolls back pyrelease 0006. The routines stay; the next migrate reinstalls them.
SET LOCAL lock_timeout = '10s';

DROP TABLE real_estate.routine_source;
