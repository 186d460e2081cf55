-- real_estate.record_release_run(...): adds a batch's released/failed counts to a run,
-- keeps its first error, and when p_finish is true stamps finished_at and writes the
-- run's one-line summary to the server log (RAISE LOG).
CREATE OR REPLACE FUNCTION real_estate.record_release_run(
    p_run_id bigint,
    p_released integer,
    p_failed integer,
    p_error text,
    p_finish boolean
)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_run real_estate.release_run;
BEGIN
    UPDATE real_estate.release_run AS r
       SET released = r.released + p_released,
           failed = r.failed + p_failed,
           error = coalesce(r.error, p_error),
           finished_at = CASE WHEN p_finish THEN clock_timestamp() ELSE r.finished_at END
     WHERE r.id = p_run_id
    RETURNING r.* INTO v_run;

    IF p_finish AND v_run.id IS NOT NULL THEN
        RAISE LOG 'pyrelease: release run % (%) released % expired reservation(s), % failed, in % ms%',
            v_run.id, v_run.source, v_run.released, v_run.failed,
            round(extract(epoch FROM v_run.finished_at - v_run.started_at) * 1000, 1),
            CASE WHEN v_run.error IS NULL THEN '' ELSE '; first error: ' || v_run.error END;
    END IF;
END;
$function$;

COMMENT ON FUNCTION real_estate.record_release_run(bigint, integer, integer, text, boolean) IS 'Adds a batch''s released and failed counts to run p_run_id, keeps its first error, and with p_finish stamps finished_at and writes the run''s one-line summary to the server log (RAISE LOG: released, failed, duration and first error). Every release routine records through it.';

REVOKE ALL ON FUNCTION real_estate.record_release_run(bigint, integer, integer, text, boolean) FROM PUBLIC;
