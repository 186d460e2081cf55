-- depends: 0012.monitoring
-- pyrelease 0013: what the retention purge removed from the release events, so that no
-- consumer loses events without a word.
--   real_estate.release_event_purged   one row: the highest release_event id the purge has
--                                      deleted (it deletes a prefix of the ids). A consumer
--                                      whose cursor is below it missed events: release_events()
--                                      raises RE030; a new one (cursor 0) starts above it.
--   real_estate_monitor                SELECT on release_event: the health rule's event feed
--                                      figure (how long events are held back), which
--                                      `pyrelease status` reads as the monitor.
-- The record starts below the oldest event kept (the events below it were purged, or never
-- committed), or at the last id given out when none is kept. release_event is locked in SHARE
-- mode for that read (writers wait, at most lock_timeout before): no transaction still
-- writing events may commit a lower id after it.
SET LOCAL lock_timeout = '10s';

CREATE TABLE real_estate.release_event_purged (
    singleton boolean NOT NULL DEFAULT true,
    purged_through bigint NOT NULL,
    purged_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT release_event_purged_pkey PRIMARY KEY (singleton),
    CONSTRAINT release_event_purged_singleton_check CHECK (singleton),
    CONSTRAINT release_event_purged_through_check CHECK (purged_through >= 0)
);
COMMENT ON TABLE real_estate.release_event_purged IS
    'The release events the retention purge removed: every id up to purged_through (one row; none: nothing). Written by purge_release_log, read by release_events()';
COMMENT ON COLUMN real_estate.release_event_purged.purged_through IS
    'The highest release_event id deleted by the purge: the events kept all have higher ids';

LOCK TABLE real_estate.release_event IN SHARE MODE;
INSERT INTO real_estate.release_event_purged (singleton, purged_through)
SELECT true, coalesce((SELECT pg_catalog.min(e.id) - 1 FROM real_estate.release_event AS e),
                      pg_catalog.pg_sequence_last_value('real_estate.release_event_id_seq'::pg_catalog.regclass),
                      0);

REVOKE ALL ON real_estate.release_event_purged FROM PUBLIC;
GRANT SELECT ON real_estate.release_event_purged TO real_estate_reader;
GRANT SELECT ON real_estate.release_event TO real_estate_monitor;
