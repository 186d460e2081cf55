"""
pyrelease 0007: why a reservation ended, and the table behind the release notification.

* real_estate.release_event.reason: 'expired' (released by the release, or taken over by
  reserve_property) or 'cancelled' (given back by its holder, cancel_reservation). NOT NULL
  with a constant DEFAULT: PostgreSQL stores the default in the catalog, so existing rows
  read 'expired' without the table being rewritten, and every writer that does not name the
  column (the release routines) writes 'expired'.
* The expiry CHECK (reserved_until <= released_at) now applies to 'expired' events only: a
  cancellation gives back a reservation that has not expired.
* real_estate.release_notification: one transient row per transaction that writes release
  events; its deferred trigger sends the transaction's one NOTIFY at commit (see
  plpgsql/release_event_notify.sql). UNLOGGED: its rows never outlive their transaction.

Cheap on a big release_event: the ALTER TABLE is one statement (atomic, a brief ACCESS
EXCLUSIVE lock, no scan: the CHECKs are added NOT VALID); each CHECK is then validated in
its own statement, under SHARE UPDATE EXCLUSIVE, which does not block the table's readers or
writers. Not transactional (`__transactional__ = False`) so that the scans run outside that
lock; every statement is idempotent, so a run that gave up half-way (lock_timeout) is simply
run again.

Rolling back refuses while 'cancelled' events exist (they break the old CHECK; deleting log
rows is the DBA's decision, and the message says how). It also drops what plpgsql/ installed
on top of it (the notification triggers, cancel_reservation) and clears routine_source, so
that the next migrate reinstalls them.
"""

from yoyo import step

__depends__ = {"0006.routine-source"}
__transactional__ = False

LOCK_TIMEOUT = "SET lock_timeout = '10s'"

ADD = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
                    WHERE attrelid = 'real_estate.release_event'::regclass
                      AND attname = 'reason' AND NOT attisdropped) THEN
        ALTER TABLE real_estate.release_event
            ADD COLUMN reason text NOT NULL DEFAULT 'expired',
            ADD CONSTRAINT release_event_reason_check
                CHECK (reason IN ('expired', 'cancelled')) NOT VALID,
            DROP CONSTRAINT release_event_expired_check,
            ADD CONSTRAINT release_event_expired_check
                CHECK (reason <> 'expired' OR reserved_until <= released_at) NOT VALID;
        COMMENT ON COLUMN real_estate.release_event.reason IS
            'expired: released after its expiry (by the release, or taken over by reserve_property); cancelled: given back by its holder';
    END IF;
    IF pg_catalog.to_regclass('real_estate.release_notification') IS NULL THEN
        CREATE UNLOGGED TABLE real_estate.release_notification (
            created_at timestamptz NOT NULL DEFAULT now()
        );
        COMMENT ON TABLE real_estate.release_notification IS
            'Transient: one row per transaction that writes release events, deleted by the trigger that sends its NOTIFY at commit';
    END IF;
END
$$
"""

VALIDATE = [
    "ALTER TABLE real_estate.release_event VALIDATE CONSTRAINT release_event_reason_check",
    "ALTER TABLE real_estate.release_event VALIDATE CONSTRAINT release_event_expired_check",
]

REMOVE = """
DO $$
DECLARE
    v_cancelled bigint;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
                WHERE attrelid = 'real_estate.release_event'::regclass
                  AND attname = 'reason' AND NOT attisdropped) THEN
        SELECT count(*) INTO v_cancelled
          FROM real_estate.release_event AS e WHERE e.reason <> 'expired';
        IF v_cancelled > 0 THEN
            RAISE EXCEPTION 'cannot roll back 0007: % cancelled release event(s) would break the expiry check', v_cancelled
                USING HINT = 'DELETE FROM real_estate.release_event WHERE reason <> ''expired'' first, if they may go';
        END IF;
        ALTER TABLE real_estate.release_event
            DROP CONSTRAINT release_event_expired_check,
            DROP COLUMN reason,
            ADD CONSTRAINT release_event_expired_check
                CHECK (reserved_until <= released_at) NOT VALID;
    END IF;
    -- What plpgsql/ installed on top of this migration goes with it (the notification
    -- trigger would otherwise fail every release); the next migrate reinstalls it.
    DROP TRIGGER IF EXISTS release_event_notify ON real_estate.release_event;
    DROP TABLE IF EXISTS real_estate.release_notification;  -- and its trigger
    DROP FUNCTION IF EXISTS real_estate.release_event_notify();
    DROP FUNCTION IF EXISTS real_estate.release_event_notify_commit();
    DROP FUNCTION IF EXISTS real_estate.cancel_reservation(uuid, uuid);
    DELETE FROM real_estate.routine_source;
END
$$
"""

VALIDATE_OLD = (
    "ALTER TABLE real_estate.release_event VALIDATE CONSTRAINT release_event_expired_check"
)


def apply_step(conn):
    for statement in (LOCK_TIMEOUT, ADD, *VALIDATE):
        conn.execute(statement)


def rollback_step(conn):
    for statement in (LOCK_TIMEOUT, REMOVE, VALIDATE_OLD):
        conn.execute(statement)


steps = [step(apply_step, rollback_step)]
