"""waiting room: PostgreSQL tells every worker when what an unchanged poll compares changes

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 20:00:00.000000

A trigger on the columns the waiting room's fingerprint and link checks read sends
NOTIFY portal_waiting_room with the appointment's id, in the writing transaction (so it is
delivered at commit, and never for a rolled-back change). Presence (last_seen_at) is not
among them. SQLite (the single-process default) has no NOTIFY and needs none.
"""
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

FUNCTION = """
CREATE OR REPLACE FUNCTION portal_waiting_room_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'participant' THEN
        IF TG_OP <> 'INSERT' THEN
            PERFORM pg_notify('portal_waiting_room', OLD.appointment_id::text);
        END IF;
        IF TG_OP = 'UPDATE' AND NEW.appointment_id IS DISTINCT FROM OLD.appointment_id THEN
            PERFORM pg_notify('portal_waiting_room', NEW.appointment_id::text);
        END IF;
    ELSE
        PERFORM pg_notify('portal_waiting_room', OLD.id::text);
    END IF;
    RETURN NULL;
END
$$;
"""


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    op.execute("""
        CREATE TRIGGER participant_waiting_room_changed
        AFTER UPDATE OF journey_state, token_hash, erased_at, appointment_id OR DELETE
        ON participant FOR EACH ROW EXECUTE FUNCTION portal_waiting_room_changed()""")
    op.execute("""
        CREATE TRIGGER appointment_waiting_room_changed
        AFTER UPDATE OF status, starts_at, duration_minutes, waiting_message_at OR DELETE
        ON appointment FOR EACH ROW EXECUTE FUNCTION portal_waiting_room_changed()""")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS appointment_waiting_room_changed ON appointment")
    op.execute("DROP TRIGGER IF EXISTS participant_waiting_room_changed ON participant")
    op.execute("DROP FUNCTION IF EXISTS portal_waiting_room_changed()")
