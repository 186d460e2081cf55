-- delete: a property deleted, whatever its status
\set n random(1, :nprops)
SELECT soak.delete_property(:n);
