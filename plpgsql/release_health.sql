-- real_estate.release_health(p_counters): the health of the scheduled release as one row, by
-- the one rule of docs/monitoring.md (status --check and --json, the exporter's metrics).
-- Read-only; reads this database's tables and pg_locks only. p_counters false skips the
-- counter drift (a scan of property). `pyrelease status` runs this very query for any role
-- (queries.py), so every name, operator and type in it is qualified. PL/pgSQL: Citus plans
-- no SQL function that has parameters.
CREATE OR REPLACE FUNCTION real_estate.release_health(p_counters boolean DEFAULT true)
RETURNS TABLE (
    healthy boolean,
    reason text,
    problems text[],
    backlog bigint,
    oldest_expired_seconds double precision,
    backlog_stale boolean,
    last_scheduled_run_finished_at timestamptz,
    last_scheduled_run_age_seconds double precision,
    scheduled_run_stale boolean,
    run_in_progress boolean,
    waiting_for_first_run boolean,
    limit_seconds double precision,
    failed_rows bigint,
    counter_drift bigint,
    event_feed_held_back_seconds double precision,
    job_name text,
    job_schedule text,
    job_active boolean,
    job_interval_seconds double precision,
    job_registered_at timestamptz,
    job_cron_database text,
    job_timezone text,
    checked_at timestamptz
)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $body$
BEGIN
RETURN QUERY
WITH job AS (
    -- The job as registered; the limit is two intervals of its schedule, at least 5 minutes
    -- (5 minutes when no job is registered).
    SELECT s.job_name, s.schedule, s.active, s.cron_database, s.schedule_interval, s.registered_at,
           s.timezone,
           GREATEST(s.schedule_interval OPERATOR(pg_catalog.*) 2::pg_catalog.float8,
                    '5 minutes'::pg_catalog.interval) AS stale_after
      FROM (SELECT) AS one
      LEFT JOIN real_estate.release_schedule AS s ON s.singleton
), heartbeat AS (
    -- The heartbeat: the scheduled runs' one row (the last one that finished; one started
    -- after it within the limit is in progress), and the rows recent runs of any source
    -- failed to release.
    -- (Aggregates: one row, as the planner knows, whatever it guesses of the tables.)
    SELECT pg_catalog.max(b.finished_at) AS last_finished,
           COALESCE(pg_catalog.bool_or((b.started_at OPERATOR(pg_catalog.>) b.finished_at OR b.finished_at IS NULL)
                                       AND b.started_at OPERATOR(pg_catalog.>)
                                           (pg_catalog.now() OPERATOR(pg_catalog.-) j.stale_after)), false)
               AS in_progress,
           (SELECT COALESCE(pg_catalog.sum(r.failed), 0)
              FROM job AS f
              JOIN real_estate.release_run AS r
                ON r.started_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) f.stale_after))
               AS failed
      FROM job AS j
      LEFT JOIN real_estate.release_heartbeat AS b ON b.singleton
), settings AS (
    -- pg_cron's settings, for a role that may read them (superuser-only: the owner has
    -- pg_read_all_settings), else NULL; NULL too before pg_cron 1.5.
    SELECT CASE WHEN pg_catalog.pg_has_role('pg_read_all_settings', 'MEMBER')
                THEN pg_catalog.current_setting('cron.launch_active_jobs', true) END AS launch_active_jobs,
           CASE WHEN pg_catalog.pg_has_role('pg_read_all_settings', 'MEMBER')
                THEN pg_catalog.current_setting('cron.timezone', true) END AS timezone
), backlog AS (
    -- Expired reservations of ACTIVE workspaces not yet released (the partial index).
    SELECT pg_catalog.count(*) AS expired,
           pg_catalog.now() OPERATOR(pg_catalog.-) pg_catalog.min(p.reserved_until) AS oldest_age
      FROM real_estate.property AS p
      JOIN real_estate.workspace AS w ON w.id OPERATOR(pg_catalog.=) p.workspace_id
     WHERE p.status OPERATOR(pg_catalog.=) 'RESERVED'
       AND p.reserved_until OPERATOR(pg_catalog.<=) pg_catalog.now()
       AND w.activation_status OPERATOR(pg_catalog.=) 'ACTIVE'
), drift AS (
    -- Projects whose available_plots differs from their AVAILABLE properties (rows written
    -- past the triggers); NULL, and not scanned, unless $1 (p_counters).
    SELECT CASE WHEN $1 THEN (
        SELECT pg_catalog.count(*)
          FROM real_estate.project AS pr
          LEFT JOIN (SELECT p.project_id, pg_catalog.count(*) AS n
                       FROM real_estate.property AS p
                      WHERE p.status OPERATOR(pg_catalog.=) 'AVAILABLE' AND p.project_id IS NOT NULL
                      GROUP BY p.project_id) AS c ON c.project_id OPERATOR(pg_catalog.=) pr.id
         WHERE pr.available_plots::pg_catalog.int8 OPERATOR(pg_catalog.<>) COALESCE(c.n, 0))
    END AS projects
), feed_floor AS MATERIALIZED (
    -- The event feed (release_events): the lowest event id a running writer may still commit,
    -- as real_estate.release_event_floor() decodes it from pg_locks (any role may read them);
    -- NULL when no transaction writes events. MATERIALIZED: read here, never on a worker.
    SELECT pg_catalog.min(((l.classid::pg_catalog.int8 OPERATOR(pg_catalog.&) 65535::pg_catalog.int8)
                               OPERATOR(pg_catalog.<<) 32)
                           OPERATOR(pg_catalog.|) l.objid::pg_catalog.int8) AS floor
      FROM pg_catalog.pg_locks AS l
     WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory'
       AND l.objsubid OPERATOR(pg_catalog.=) 1::pg_catalog.int2
       AND l.granted
       AND (l.classid::pg_catalog.int8 OPERATOR(pg_catalog.>>) 16) OPERATOR(pg_catalog.=) 21061::pg_catalog.int8
       AND l.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database AS d
                                               WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
       AND l.pid IS DISTINCT FROM pg_catalog.pg_backend_pid()
), feed_run AS MATERIALIZED (
    -- The ids committed from the floor on (the first 1000): the first one missing is where
    -- every consumer stops until that writer ends.
    SELECT pg_catalog.array_agg(e.id ORDER BY e.id) AS ids
      FROM (SELECT e.id FROM real_estate.release_event AS e
             WHERE e.id OPERATOR(pg_catalog.>=) (SELECT f.floor FROM feed_floor AS f)
             ORDER BY e.id LIMIT 1000) AS e
), feed_gap AS MATERIALIZED (
    SELECT f.floor OPERATOR(pg_catalog.+) COALESCE(
               (SELECT pg_catalog.min(u.n) OPERATOR(pg_catalog.-) 1
                  FROM pg_catalog.unnest(r.ids) WITH ORDINALITY AS u(id, n)
                 WHERE u.id OPERATOR(pg_catalog.<>)
                       ((f.floor OPERATOR(pg_catalog.+) u.n) OPERATOR(pg_catalog.-) 1)),
               pg_catalog.cardinality(r.ids), 0) AS first_missing
      FROM feed_floor AS f, feed_run AS r
), feed AS MATERIALIZED (
    -- The first event committed past that gap: held back from every consumer since then.
    SELECT (SELECT e.released_at FROM real_estate.release_event AS e
             WHERE e.id OPERATOR(pg_catalog.>) (SELECT g.first_missing FROM feed_gap AS g)
             ORDER BY e.id LIMIT 1) AS held_back_since
), state AS (
    -- A job registered within the limit while no scheduled run has ever finished is waiting
    -- for its first run; a run in progress is not a missed one.
    SELECT j.*, h.*, b.*, d.projects, fe.held_back_since,
           c.launch_active_jobs OPERATOR(pg_catalog.=) 'off' AS launch_off, c.timezone AS cron_timezone,
           COALESCE(j.registered_at OPERATOR(pg_catalog.>) (pg_catalog.now() OPERATOR(pg_catalog.-) j.stale_after)
                    AND h.last_finished IS NULL, false) AS waiting
      FROM job AS j, heartbeat AS h, settings AS c, backlog AS b, drift AS d, feed AS fe
), stale AS (
    SELECT s.*,
           s.job_name IS NOT NULL AND NOT s.waiting AND NOT s.in_progress
               AND (s.last_finished IS NULL
                    OR s.last_finished OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) s.stale_after))
               AS run_stale,
           NOT s.waiting AND s.expired OPERATOR(pg_catalog.>) 0
               AND s.oldest_age OPERATOR(pg_catalog.>) s.stale_after AS backlog_stale
      FROM state AS s
), ages AS (
    -- The ages the reasons name, written as `pyrelease status` writes them (45.0s, 20m00s, 3h02m).
    SELECT pg_catalog.max(f.text) FILTER (WHERE a.what OPERATOR(pg_catalog.=) 'limit') AS limit_text,
           pg_catalog.max(f.text) FILTER (WHERE a.what OPERATOR(pg_catalog.=) 'last') AS last_text,
           pg_catalog.max(f.text) FILTER (WHERE a.what OPERATOR(pg_catalog.=) 'oldest') AS oldest_text
      FROM stale AS s,
           LATERAL (VALUES ('limit', s.stale_after),
                           ('last', pg_catalog.now() OPERATOR(pg_catalog.-) s.last_finished),
                           ('oldest', s.oldest_age)) AS a(what, age),
           LATERAL (SELECT pg_catalog.date_part('epoch', a.age) AS seconds,
                           pg_catalog.floor(pg_catalog.date_part('epoch', a.age))::pg_catalog.int8 AS n) AS e,
           LATERAL (SELECT CASE
               WHEN a.age IS NULL THEN NULL
               WHEN e.seconds OPERATOR(pg_catalog.<) 120::pg_catalog.float8
                   THEN pg_catalog.to_char(e.seconds, 'FM9999999990.0') OPERATOR(pg_catalog.||) 's'
               WHEN e.n OPERATOR(pg_catalog.>=) 3600::pg_catalog.int8
                   THEN pg_catalog.format('%sh%sm', e.n OPERATOR(pg_catalog./) 3600::pg_catalog.int8,
                            pg_catalog.lpad(((e.n OPERATOR(pg_catalog.%) 3600::pg_catalog.int8)
                                             OPERATOR(pg_catalog./) 60::pg_catalog.int8)::pg_catalog.text, 2, '0'))
               ELSE pg_catalog.format('%sm%ss', e.n OPERATOR(pg_catalog./) 60::pg_catalog.int8,
                        pg_catalog.lpad((e.n OPERATOR(pg_catalog.%) 60::pg_catalog.int8)::pg_catalog.text, 2, '0'))
           END AS text) AS f
), verdict AS MATERIALIZED (
    SELECT s.*, ARRAY(
        SELECT v.problem
          FROM (VALUES
                (1, CASE WHEN s.job_name IS NULL
                             THEN 'no release job is scheduled (or pg_cron is missing)'
                         WHEN NOT s.active
                             THEN pg_catalog.format('job %L is inactive', s.job_name) END),
                (2, CASE WHEN s.launch_off
                             THEN 'pg_cron runs no job: cron.launch_active_jobs is off' END),
                (3, CASE WHEN s.job_name IS NOT NULL AND s.cron_timezone OPERATOR(pg_catalog.<>) s.timezone
                             THEN pg_catalog.format('job %L was registered for schedules read in %s, pg_cron'
                                                    ' reads them in %s (`pyrelease schedule` registers it again)',
                                                    s.job_name, s.timezone, s.cron_timezone) END),
                (4, CASE WHEN s.run_stale AND s.last_finished IS NULL
                             THEN 'no scheduled run has finished yet'
                         WHEN s.run_stale
                             THEN pg_catalog.format('last scheduled run finished %s ago (limit %s)',
                                                    a.last_text, a.limit_text) END),
                (5, CASE WHEN s.backlog_stale
                             THEN pg_catalog.format('%s expired reservation(s) waiting, oldest %s (limit %s)',
                                                    s.expired, a.oldest_text, a.limit_text) END),
                (6, CASE WHEN s.projects OPERATOR(pg_catalog.>) 0::pg_catalog.int8
                             THEN pg_catalog.format('counters: %s project(s) drifted (rows written past the'
                                                    ' triggers); as the owner run SELECT real_estate.repair_counters()',
                                                    s.projects) END)
               ) AS v(n, problem)
         WHERE v.problem IS NOT NULL
         ORDER BY v.n) AS problems
      FROM stale AS s, ages AS a
)
SELECT pg_catalog.cardinality(v.problems) OPERATOR(pg_catalog.=) 0 AS healthy,
       CASE WHEN pg_catalog.cardinality(v.problems) OPERATOR(pg_catalog.>) 0
                THEN pg_catalog.array_to_string(v.problems, '; ')
            WHEN v.waiting THEN 'ok: waiting for the first run'
            ELSE 'ok' END AS reason,
       v.problems,
       v.expired AS backlog,
       pg_catalog.date_part('epoch', v.oldest_age) AS oldest_expired_seconds,
       v.backlog_stale,
       v.last_finished AS last_scheduled_run_finished_at,
       pg_catalog.date_part('epoch', pg_catalog.now() OPERATOR(pg_catalog.-) v.last_finished)
           AS last_scheduled_run_age_seconds,
       v.run_stale AS scheduled_run_stale,
       v.in_progress AS run_in_progress,
       v.waiting AS waiting_for_first_run,
       pg_catalog.date_part('epoch', v.stale_after) AS limit_seconds,
       v.failed AS failed_rows,
       v.projects AS counter_drift,
       COALESCE(pg_catalog.date_part('epoch', pg_catalog.now() OPERATOR(pg_catalog.-) v.held_back_since),
                0::pg_catalog.float8) AS event_feed_held_back_seconds,
       v.job_name,
       v.schedule AS job_schedule,
       v.active AS job_active,
       pg_catalog.date_part('epoch', v.schedule_interval) AS job_interval_seconds,
       v.registered_at AS job_registered_at,
       v.cron_database AS job_cron_database,
       v.timezone AS job_timezone,
       pg_catalog.now() AS checked_at
  FROM verdict AS v;
END
$body$;

REVOKE ALL ON FUNCTION real_estate.release_health(boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION real_estate.release_health(boolean) TO real_estate_monitor, real_estate_reader;
