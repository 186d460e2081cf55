-- SELECT real_estate.release_reservation(id) on a random property
\set n random(1, :nprops)
SELECT soak.release_one(:n);
