-- real_estate.release_event_announce(): statement-level BEFORE INSERT trigger function on
-- release_event, whoever inserts: announces the transaction's floor before the statement
-- draws its ids (real_estate.release_event_announce_floor). O(1) per statement.
CREATE OR REPLACE FUNCTION real_estate.release_event_announce()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    -- On Citus this fires on a worker's shard (release_event_<shard id>), after the
    -- coordinator gave out the ids: there release_rows announces on the coordinator.
    IF TG_TABLE_NAME = 'release_event' THEN
        PERFORM real_estate.release_event_announce_floor();
    END IF;
    RETURN NULL;
END;
$function$;

CREATE OR REPLACE TRIGGER release_event_announce
    BEFORE INSERT ON real_estate.release_event
    FOR EACH STATEMENT EXECUTE FUNCTION real_estate.release_event_announce();

COMMENT ON FUNCTION real_estate.release_event_announce() IS 'Statement-level BEFORE INSERT trigger function on real_estate.release_event, whoever inserts (the release, a takeover by reserve_property, cancel_reservation, the owner by hand): announces the transaction''s floor, the lowest event id it may draw, before the statement draws its ids (real_estate.release_event_announce_floor; once per transaction). O(1) per statement. On Citus it fires on the workers'' shards, after the coordinator gave out the ids, and does nothing there: release_rows announces on the coordinator for the events it writes.';

REVOKE ALL ON FUNCTION real_estate.release_event_announce() FROM PUBLIC;
