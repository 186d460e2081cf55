-- real_estate.release_event_floor(): the lowest release_event id that a running transaction
-- of another session may still commit (the least floor announced by
-- release_event_announce_floor, read in pg_locks: any role may), NULL when none writes events.
CREATE OR REPLACE FUNCTION real_estate.release_event_floor()
RETURNS bigint
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp
AS $function$
    SELECT min(((l.classid::int8 & 65535) << 32) | l.objid::int8)
      FROM pg_catalog.pg_locks AS l
     WHERE l.locktype = 'advisory'
       AND l.objsubid = 1
       AND l.granted
       AND l.classid::int8 >> 16 = 21061
       AND l.database = (SELECT d.oid FROM pg_catalog.pg_database AS d WHERE d.datname = current_database())
       AND l.pid IS DISTINCT FROM pg_backend_pid();
$function$;

COMMENT ON FUNCTION real_estate.release_event_floor() IS 'The lowest real_estate.release_event id that a transaction of another session (or a prepared one) may still commit: the least floor announced by release_event_announce_floor among the transactions that hold their announcement (a shared advisory lock on 21061 * 2^48 + floor, decoded from pg_locks, which shows every session''s locks to any role), or NULL when no other transaction writes events. An id below it that is not committed now never will be (it was rolled back, or never used). Read-only; reads pg_locks (a snapshot of the lock table), nothing else. Not SECURITY DEFINER: needs no privilege.';

REVOKE ALL ON FUNCTION real_estate.release_event_floor() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION real_estate.release_event_floor() TO real_estate_reader;
