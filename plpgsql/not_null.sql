-- real_estate.not_null(p_value, p_name): p_value, or RE010 ('<p_name> must not be NULL')
-- when it is NULL: the argument check of every lifecycle routine. Immutable.
CREATE OR REPLACE FUNCTION real_estate.not_null(p_value anyelement, p_name text)
RETURNS anyelement
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF p_value IS NULL THEN
        RAISE EXCEPTION '% must not be NULL', p_name USING ERRCODE = 'RE010';
    END IF;
    RETURN p_value;
END;
$function$;

COMMENT ON FUNCTION real_estate.not_null(anyelement, text) IS 'Returns p_value, or raises RE010 (''<p_name> must not be NULL'') when it is NULL: the check of the ids every lifecycle routine takes (property, holder, workspace). Immutable, reads nothing.';

REVOKE ALL ON FUNCTION real_estate.not_null(anyelement, text) FROM PUBLIC;
