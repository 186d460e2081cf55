-- relist: a SOLD property back on the market (direct UPDATE)
\set n random(1, :nprops)
SELECT soak.relist(:n);
