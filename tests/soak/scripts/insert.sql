-- insert: a new AVAILABLE property, or one inserted directly as RESERVED (-10..20 s)
\set kind random(0, 1)
\set ttl random(-10, 20)
SELECT soak.insert_property(CASE WHEN :kind = 0 THEN NULL ELSE :ttl END);
