-- move: a property moved to another project of its workspace (direct UPDATE)
\set n random(1, :nprops)
SELECT soak.move(:n);
