-- Rolls back pyrelease 0001 (0002's rollback has removed the views and routines). No CASCADE: if the application built its own objects on top
-- of these (views, foreign keys), the rollback stops instead of silently dropping them.
-- Fail fast instead of queueing behind a long transaction (and blocking others behind us).
SET LOCAL lock_timeout = '10s';

DROP TABLE real_estate.release_event;
DROP TABLE real_estate.release_run;
DROP TABLE real_estate.property;
DROP TABLE real_estate.project;
DROP TABLE real_estate.workspace;
DROP SCHEMA real_estate;
