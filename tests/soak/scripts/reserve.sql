-- reserve a random property for 2..20 s (takes over an expired reservation)
\set n random(1, :nprops)
\set ttl random(2, 20)
SELECT soak.reserve(:n, :ttl);
