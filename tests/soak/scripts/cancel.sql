-- cancel: an unexpired reservation given up (RESERVED -> AVAILABLE, direct UPDATE)
\set n random(1, :nprops)
SELECT soak.cancel(:n);
