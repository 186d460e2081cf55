-- real_estate.release_events(p_after_id, p_limit): the release events after id p_after_id,
-- in id order, never skipping one: when the ids read have a gap a running writer could still
-- fill, only the events before it are returned. READ COMMITTED only; read-only, not
-- SECURITY DEFINER (it reads what the caller may read).
CREATE OR REPLACE FUNCTION real_estate.release_events(
    p_after_id bigint DEFAULT 0,
    p_limit integer DEFAULT 1000
)
RETURNS SETOF real_estate.release_event
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_ids bigint[];
    v_upto bigint;
    v_read_at timestamptz;
BEGIN
    IF p_after_id IS NULL OR p_after_id < 0 THEN
        RAISE EXCEPTION 'after id must be a non-negative integer, got %', coalesce(p_after_id::text, 'NULL')
            USING ERRCODE = 'RE010';
    ELSIF p_limit IS NULL OR p_limit < 1 OR p_limit > 10000 THEN
        RAISE EXCEPTION 'limit must be between 1 and 10000, got %', coalesce(p_limit::text, 'NULL')
            USING ERRCODE = 'RE010';
    ELSIF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'release_events() reads in READ COMMITTED only, not %', current_setting('transaction_isolation')
            USING ERRCODE = '0A000';
    END IF;

    v_ids := ARRAY(SELECT e.id FROM real_estate.release_event AS e
                    WHERE e.id > p_after_id ORDER BY e.id LIMIT p_limit);
    v_read_at := clock_timestamp();  -- after that read's snapshot
    IF cardinality(v_ids) = 0 THEN
        RETURN;
    END IF;
    v_upto := v_ids[cardinality(v_ids)];
    IF v_upto - p_after_id > cardinality(v_ids)
       AND EXISTS (SELECT 1
                     FROM pg_catalog.pg_locks AS l
                     LEFT JOIN pg_catalog.pg_stat_activity AS a ON a.pid = l.pid
                    WHERE l.locktype = 'relation'
                      AND l.database = (SELECT d.oid FROM pg_catalog.pg_database AS d
                                         WHERE d.datname = current_database())
                      AND l.relation = 'real_estate.release_event'::regclass
                      AND l.mode = 'RowExclusiveLock'
                      AND l.pid IS DISTINCT FROM pg_backend_pid()
                      -- begun after that read: its ids are all higher (NULL: not ours to see)
                      AND (a.xact_start IS NULL OR a.xact_start < v_read_at)) THEN
        -- A gap that a running writer may still fill: stop before the first gap.
        SELECT coalesce(max(u.id), p_after_id) INTO v_upto
          FROM unnest(v_ids) WITH ORDINALITY AS u(id, n)
         WHERE u.id = p_after_id + u.n;
    END IF;

    RETURN QUERY
        SELECT e.*
          FROM real_estate.release_event AS e
         WHERE e.id > p_after_id AND e.id <= v_upto
         ORDER BY e.id
         LIMIT p_limit;
END;
$function$;

COMMENT ON FUNCTION real_estate.release_events(bigint, integer) IS 'The release events after id p_after_id, in id order, at most p_limit (1 to 10000; RE010 otherwise, or when NULL or negative): what a consumer reads after its cursor (pyrelease.listen, pyrelease watch). No event is ever skipped: ids are given out at insert but become visible at commit, so a transaction still running can hold a lower id than one already committed. Every event up to the last one returned that will ever be committed is returned, so a consumer may advance its cursor to the last id it got: when the ids read have a gap and a transaction that could fill it is still running (one holding its RowExclusiveLock on release_event, which it takes before allocating an id and keeps until it ends; one whose transaction began after the ids were read cannot hold a lower one), only the events before the gap are returned (the rest come once it ends: its commit notifies); otherwise the gap is final (a rolled-back insert) and the events past it are read again in a new snapshot, which sees everything committed before the check. This relies on the identity''s CACHE 1 (ids given out in time order); on Citus the coordinator gives out every id (release_rows sends its events as an INSERT ... VALUES that the coordinator evaluates) and holds the writer''s lock until the workers have committed, so the same holds there for events written through the coordinator. READ COMMITTED only (the second read needs its own snapshot): other isolation levels get SQLSTATE 0A000. Read-only, takes no lock beyond a normal read; not SECURITY DEFINER: it reads what the caller may read.';

REVOKE ALL ON FUNCTION real_estate.release_events(bigint, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION real_estate.release_events(bigint, integer) TO real_estate_reader;
