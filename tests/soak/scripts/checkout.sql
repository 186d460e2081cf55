-- checkout: reserve then sell in one application transaction that holds its locks a while
\set n random(1, :nprops)
\set ttl random(2, 20)
BEGIN;
SELECT soak.reserve(:n, :ttl);
SELECT pg_sleep(0.02);
SELECT soak.sell(:n);
COMMIT;
