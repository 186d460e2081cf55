-- depends: 0001.schema
-- pyrelease 0002: the routines. Their text is not here: every function, procedure, trigger
-- and view lives in exactly one file in plpgsql/, and the post-apply step
-- (pyrelease/install.py, run by `pyrelease migrate` and by yoyo's migrations/post-apply.py)
-- (re)creates them after the numbered migrations whenever that source changed. This
-- migration only marks the point from which they exist; its rollback removes them.
SET LOCAL lock_timeout = '10s';
