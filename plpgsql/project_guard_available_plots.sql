-- real_estate.project_guard_available_plots(): trigger function on real_estate.project that
-- keeps available_plots the database's own. As a BEFORE INSERT row trigger it starts a new
-- project at 0 (it has no properties yet). As an AFTER UPDATE row trigger, fired only for
-- rows whose counter changed (WHEN clause), it refuses (RE011) the change unless it is
-- exactly the one the counter trigger real_estate.property_sync_available_plots announced
-- for that row: same id before and after, the announced delta (so a BEFORE UPDATE trigger of
-- the host that alters the counter while riding on the counter trigger's own UPDATE is
-- refused, whatever its name's place in the firing order), issued one trigger level below
-- the counter trigger (not by a trigger the counter write fires in turn), as the table's
-- owner (the SECURITY DEFINER counter trigger runs as the owner: a session that sets the
-- announcement itself runs as itself and is refused even when granted the column). It reads
-- no message text (a translated lc_messages changes nothing). A write that leaves the
-- value as it was (an ORM saving every column) never reaches it. The other write it lets
-- through is real_estate.repair_counters()' own, as the table's owner (see that file).
CREATE OR REPLACE FUNCTION real_estate.project_guard_available_plots()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_write text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.available_plots := 0;
        RETURN NEW;
    END IF;

    -- real_estate.repair_counters() (owner only) sets real_estate.repair_counters = 'on'
    -- around its one UPDATE (and resets it); it then checks its result itself.
    IF current_setting('real_estate.repair_counters', true) = 'on'
       AND EXISTS (SELECT 1 FROM pg_class AS c
                    WHERE c.oid = TG_RELID
                      AND pg_get_userbyid(c.relowner) = current_user) THEN
        RETURN NULL;
    END IF;

    v_write := current_setting('pyrelease.counter_write', true);
    IF v_write <> ''
       AND NEW.id = OLD.id
       AND pg_trigger_depth() >= 2
       AND starts_with(v_write, (pg_trigger_depth() - 1)::text || '|,')
       AND strpos(v_write, ',' || NEW.id::text || ':'
                           || (NEW.available_plots::bigint - OLD.available_plots)::text || ',') > 0
       AND EXISTS (SELECT 1
                     FROM pg_class AS c
                    WHERE c.oid = TG_RELID
                      AND pg_get_userbyid(c.relowner) = current_user) THEN
        RETURN NULL;
    END IF;

    RAISE EXCEPTION 'real_estate.project.available_plots is maintained by the database'
        USING ERRCODE = 'RE011',
              HINT = 'Change real_estate.property rows; the counter follows them.';
END;
$function$;

-- The triggers that call it (re-created in place: no window without them).
CREATE OR REPLACE TRIGGER project_guard_available_plots_insert
    BEFORE INSERT ON real_estate.project
    FOR EACH ROW EXECUTE FUNCTION real_estate.project_guard_available_plots();
CREATE OR REPLACE TRIGGER project_guard_available_plots_update
    AFTER UPDATE ON real_estate.project
    FOR EACH ROW WHEN (OLD.available_plots IS DISTINCT FROM NEW.available_plots)
    EXECUTE FUNCTION real_estate.project_guard_available_plots();

REVOKE ALL ON FUNCTION real_estate.project_guard_available_plots() FROM PUBLIC;
