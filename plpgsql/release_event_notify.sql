-- real_estate.release_event_notify(): statement-level AFTER INSERT trigger on release_event,
-- whoever inserts: adds the statement's events to the transaction's one NOTIFY at commit
-- (real_estate.release_event_notify_arm). O(1) per statement plus the transition table.
CREATE OR REPLACE FUNCTION real_estate.release_event_notify()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    -- On Citus this trigger fires on a worker's release_event shard, where the
    -- coordinator-local release_notification does not exist: there release_rows arms the
    -- notification on the coordinator.
    IF to_regclass('real_estate.release_notification') IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM real_estate.release_event_notify_arm(min(e.id), max(e.id), count(*)) FROM new_rows AS e;
    RETURN NULL;
END;
$function$;

CREATE OR REPLACE TRIGGER release_event_notify
    AFTER INSERT ON real_estate.release_event
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION real_estate.release_event_notify();

COMMENT ON FUNCTION real_estate.release_event_notify() IS 'Statement-level AFTER INSERT trigger function on real_estate.release_event, whoever inserts (the release, a takeover by reserve_property, cancel_reservation, the application): adds the statement''s events (lowest and highest id and count, from the transition table) to the transaction''s one NOTIFY real_estate_release at commit (release_event_notify_arm). One notification per transaction that wrote events, whatever the number of statements; none on rollback. O(1) per statement plus the transition table''s copy of the inserted rows. On Citus it fires on the workers'' shards and does nothing there: release_rows arms the notification on the coordinator for the events it writes.';

REVOKE ALL ON FUNCTION real_estate.release_event_notify() FROM PUBLIC;
