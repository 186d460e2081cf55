-- real_estate.project_guard_available_plots(): row-level BEFORE INSERT OR UPDATE trigger
-- function on real_estate.project. available_plots belongs to the database: a new project
-- starts at 0 (it has no properties yet), and a direct UPDATE of the counter is refused;
-- only the counter trigger on real_estate.property (one trigger level down) may change it.
CREATE OR REPLACE FUNCTION real_estate.project_guard_available_plots()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.available_plots := 0;
    ELSIF NEW.available_plots IS DISTINCT FROM OLD.available_plots AND pg_trigger_depth() < 2 THEN
        RAISE EXCEPTION 'real_estate.project.available_plots is maintained by the database'
            USING ERRCODE = 'RE011',
                  HINT = 'Change real_estate.property rows; the counter follows them.';
    END IF;
    RETURN NEW;
END;
$function$;
