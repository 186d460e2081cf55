-- real_estate.check_batch_size(p_batch_size): RE010 unless p_batch_size is a positive
-- integer; the one check every release entry point makes. Immutable.
CREATE OR REPLACE FUNCTION real_estate.check_batch_size(p_batch_size integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF p_batch_size IS NULL OR p_batch_size < 1 THEN
        RAISE EXCEPTION 'batch size must be a positive integer, got %', coalesce(p_batch_size::text, 'NULL')
            USING ERRCODE = 'RE010';
    END IF;
END;
$function$;

COMMENT ON FUNCTION real_estate.check_batch_size(integer) IS 'Raises RE010 (''batch size must be a positive integer, got ...'') unless p_batch_size is at least 1: the argument check of release_expired_reservations and run_release_job. Immutable, reads nothing.';

REVOKE ALL ON FUNCTION real_estate.check_batch_size(integer) FROM PUBLIC;
