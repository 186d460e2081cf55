-- pyrelease 0001: the real_estate schema, its tables, constraints and indexes
-- (the views, like every routine, live in plpgsql/ and are installed after the migrations).
-- All objects are new, so nothing here locks an existing table.

-- Fail fast instead of queueing behind a long transaction (and blocking others behind us).
SET LOCAL lock_timeout = '10s';

CREATE SCHEMA real_estate;
COMMENT ON SCHEMA real_estate IS 'pyrelease: properties, reservations and their release';

CREATE TABLE real_estate.workspace (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    name text NOT NULL,
    activation_status text NOT NULL DEFAULT 'ACTIVE',
    CONSTRAINT workspace_pkey PRIMARY KEY (id),
    CONSTRAINT workspace_activation_status_check
        CHECK (activation_status IN ('ACTIVE', 'INACTIVE', 'SUSPENDED'))
);

CREATE TABLE real_estate.project (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL,
    name text NOT NULL,
    total_plots integer NOT NULL DEFAULT 0,
    available_plots integer NOT NULL DEFAULT 0,
    CONSTRAINT project_pkey PRIMARY KEY (id),
    CONSTRAINT project_id_workspace_id_key UNIQUE (id, workspace_id),
    CONSTRAINT project_workspace_id_fkey FOREIGN KEY (workspace_id)
        REFERENCES real_estate.workspace (id),
    CONSTRAINT project_total_plots_check CHECK (total_plots >= 0),
    CONSTRAINT project_available_plots_check CHECK (available_plots >= 0)
);
CREATE INDEX project_workspace_id_idx ON real_estate.project (workspace_id);
COMMENT ON COLUMN real_estate.project.available_plots IS
    'Number of the project''s properties whose status is AVAILABLE; maintained by the database after every statement';

CREATE TABLE real_estate.property (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    workspace_id uuid NOT NULL,
    project_id uuid,
    name text,
    status text NOT NULL DEFAULT 'AVAILABLE',
    reserved_by_id uuid,
    reserved_until timestamptz,
    CONSTRAINT property_pkey PRIMARY KEY (id),
    CONSTRAINT property_workspace_id_fkey FOREIGN KEY (workspace_id)
        REFERENCES real_estate.workspace (id),
    CONSTRAINT property_project_id_fkey FOREIGN KEY (project_id, workspace_id)
        REFERENCES real_estate.project (id, workspace_id),
    CONSTRAINT property_status_check CHECK (status IN ('AVAILABLE', 'RESERVED', 'SOLD')),
    CONSTRAINT property_reservation_check CHECK (
        CASE WHEN status = 'RESERVED'
             THEN reserved_by_id IS NOT NULL AND reserved_until IS NOT NULL
             ELSE reserved_by_id IS NULL AND reserved_until IS NULL
        END)
);
CREATE INDEX property_workspace_id_idx ON real_estate.property (workspace_id);
CREATE INDEX property_project_id_idx ON real_estate.property (project_id);
-- The release scan's partial index is built CONCURRENTLY by migration 0004.
COMMENT ON CONSTRAINT property_reservation_check ON real_estate.property IS
    'reserved_by_id and reserved_until are set exactly when status is RESERVED';

CREATE TABLE real_estate.release_run (
    id bigint GENERATED ALWAYS AS IDENTITY,
    source text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at timestamptz,
    released integer NOT NULL DEFAULT 0,
    failed integer NOT NULL DEFAULT 0,
    error text,
    CONSTRAINT release_run_pkey PRIMARY KEY (id),
    CONSTRAINT release_run_source_check CHECK (source IN ('pg_cron', 'call')),
    CONSTRAINT release_run_counts_check CHECK (released >= 0 AND failed >= 0)
);
CREATE INDEX release_run_started_at_idx ON real_estate.release_run (started_at);
COMMENT ON TABLE real_estate.release_run IS
    'One row per release run (source pg_cron: the scheduled run; call: any other). finished_at NULL: running, or killed midway';

-- No foreign keys here on purpose: the log must outlive deleted properties, and a
-- per-row RI check would double the cost of a large release.
CREATE TABLE real_estate.release_event (
    id bigint GENERATED ALWAYS AS IDENTITY,
    run_id bigint NOT NULL,
    property_id uuid NOT NULL,
    workspace_id uuid NOT NULL,
    project_id uuid,
    reserved_by_id uuid NOT NULL,
    reserved_until timestamptz NOT NULL,
    released_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT release_event_pkey PRIMARY KEY (id),
    CONSTRAINT release_event_expired_check CHECK (reserved_until <= released_at)
);
CREATE INDEX release_event_run_id_idx ON real_estate.release_event (run_id);
COMMENT ON TABLE real_estate.release_event IS
    'One row per released reservation, keeping its previous holder and expiry';
