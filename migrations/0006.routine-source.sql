-- depends: 0005.roles
-- pyrelease 0006: where the post-apply step records which plpgsql/ source it installed (its
-- SHA-256), so that a migrate with nothing new re-creates nothing and locks nothing. A new
-- table: nothing existing is locked. Rolling back makes the next migrate reinstall.
SET LOCAL lock_timeout = '10s';

CREATE TABLE real_estate.routine_source (
    singleton boolean NOT NULL DEFAULT true,
    sha256 text NOT NULL,
    installed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT routine_source_pkey PRIMARY KEY (singleton),
    CONSTRAINT routine_source_singleton_check CHECK (singleton)
);
COMMENT ON TABLE real_estate.routine_source IS
    'The SHA-256 of the plpgsql/ source the post-apply step last installed (one row)';
