-- real_estate.release_event_notify_commit(): the deferred constraint trigger that sends, at
-- commit, the transaction's one NOTIFY real_estate_release ('{"count", "max_id", "min_id"}')
-- armed by real_estate.release_event_notify_arm, and clears what armed it.
CREATE OR REPLACE FUNCTION real_estate.release_event_notify_commit()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_state text[] := string_to_array(current_setting('pyrelease.release_notify', true), ' ');
BEGIN
    IF cardinality(v_state) = 5 AND v_state[1] = pg_current_xact_id()::text THEN
        PERFORM pg_notify('real_estate_release',
                          jsonb_build_object('min_id', v_state[2]::bigint,
                                            'max_id', v_state[3]::bigint,
                                            'count', v_state[4]::bigint)::text);
        DELETE FROM real_estate.release_notification AS n WHERE n.ctid = v_state[5]::tid;
        PERFORM set_config('pyrelease.release_notify', '', true);
    END IF;
    RETURN NULL;
END;
$function$;

-- A constraint trigger cannot be CREATE OR REPLACEd: dropped and created in the install's
-- one transaction, so no transaction sees the table without it.
DROP TRIGGER IF EXISTS release_event_notify_commit ON real_estate.release_notification;
CREATE CONSTRAINT TRIGGER release_event_notify_commit
    AFTER INSERT ON real_estate.release_notification
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION real_estate.release_event_notify_commit();

COMMENT ON FUNCTION real_estate.release_event_notify_commit() IS 'The deferred constraint trigger on real_estate.release_notification that release_event_notify_arm arms once per transaction. At commit it sends NOTIFY real_estate_release, ''{"count": ..., "max_id": ..., "min_id": ...}'' (the lowest and highest release_event id the transaction wrote, and how many), removes its row and clears the running totals (so that events written after a SET CONSTRAINTS ... IMMEDIATE arm a second notification instead of being left out). PostgreSQL delivers the notification only if and when the transaction commits. It is a wake-up, not the data: listeners read release_events() after their cursor, so a notification missed (listener disconnected) loses nothing.';

REVOKE ALL ON FUNCTION real_estate.release_event_notify_commit() FROM PUBLIC;
