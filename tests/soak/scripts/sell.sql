-- sell: the conditional UPDATE of an unexpired reservation
\set n random(1, :nprops)
SELECT soak.sell(:n);
