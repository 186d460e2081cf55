"""Load (or reset) the demo data: 3 workspaces, 6 projects, 600 properties, of which some
reservations have expired and some are live. Re-running resets the same rows, so the
release always has something to show."""

from __future__ import annotations

import sys

import psycopg

DEMO_SQL = """
INSERT INTO real_estate.workspace (id, name, activation_status)
SELECT md5('demo-ws-' || w)::uuid, 'Demo workspace ' || w,
       (ARRAY['ACTIVE', 'ACTIVE', 'SUSPENDED'])[w]
  FROM generate_series(1, 3) AS w
ON CONFLICT (id) DO UPDATE SET activation_status = EXCLUDED.activation_status;

INSERT INTO real_estate.project (id, workspace_id, name, total_plots)
SELECT md5('demo-pr-' || w || '-' || p)::uuid, md5('demo-ws-' || w)::uuid,
       'Demo project ' || w || '.' || p, 100
  FROM generate_series(1, 3) AS w, generate_series(1, 2) AS p
ON CONFLICT (id) DO NOTHING;

-- Per project: 60 AVAILABLE, 20 SOLD, 10 reservations expired an hour ago, 10 live ones.
INSERT INTO real_estate.property AS pr
       (id, workspace_id, project_id, name, status, reserved_by_id, reserved_until)
SELECT md5('demo-pp-' || w || '-' || p || '-' || i)::uuid,
       md5('demo-ws-' || w)::uuid, md5('demo-pr-' || w || '-' || p)::uuid,
       'Plot ' || w || '.' || p || '.' || i, s.status,
       CASE WHEN s.status = 'RESERVED' THEN md5('demo-buyer-' || i)::uuid END,
       CASE WHEN i > 90 THEN now() + interval '2 hours'
            WHEN i > 80 THEN now() - interval '1 hour' END
  FROM generate_series(1, 3) AS w, generate_series(1, 2) AS p, generate_series(1, 100) AS i,
       LATERAL (SELECT CASE WHEN i <= 60 THEN 'AVAILABLE' WHEN i <= 80 THEN 'SOLD'
                            ELSE 'RESERVED' END AS status) AS s
ON CONFLICT (id) DO UPDATE
   SET status = EXCLUDED.status, reserved_by_id = EXCLUDED.reserved_by_id,
       reserved_until = EXCLUDED.reserved_until;
"""


def main(argv: list[str]) -> int:
    dsn = argv[1] if len(argv) > 1 else ""
    try:
        with psycopg.connect(dsn) as conn:
            conn.execute(DEMO_SQL)
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE status = 'RESERVED' AND reserved_until <= now()),"
                " count(*) FILTER (WHERE status = 'RESERVED' AND reserved_until > now())"
                " FROM real_estate.property"
            ).fetchone()
    except psycopg.Error as exc:
        print(f"demo_data: error: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    assert row is not None
    print(f"demo data loaded: {row[0]} expired reservations, {row[1]} live ones")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
