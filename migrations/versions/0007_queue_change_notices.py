"""queue: PostgreSQL tells every worker when what an unchanged queue poll compares changes

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 22:40:00.000000

Like 0005 for the waiting room (see portal/poll_cache.py). Channel portal_queue: "<advisor
id>" when an appointment of that advisor or a device check of its participants changes,
"<advisor id> <participant id>" when a participant changes, "a<advisor id>" when the advisor's
own row changes (sign-in checks, names in the everyone-view); the hand-off's meeting row
(provider_meeting) counts as the appointment's. Channel portal_presence:
"<participant id> <epoch seconds>" when a participant's presence time is written, so workers
merge it into what they keep instead of reading the queue again. SQLite needs none of this.
"""
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

QUEUE_FUNCTION = """
CREATE OR REPLACE FUNCTION portal_queue_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    adv integer;
BEGIN
    IF TG_TABLE_NAME = 'advisor' THEN
        PERFORM pg_notify('portal_queue', 'a' || OLD.id::text);
    ELSIF TG_TABLE_NAME = 'appointment' THEN
        IF TG_OP <> 'INSERT' THEN
            PERFORM pg_notify('portal_queue', OLD.advisor_id::text);
        END IF;
        IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE'
                                AND NEW.advisor_id IS DISTINCT FROM OLD.advisor_id) THEN
            PERFORM pg_notify('portal_queue', NEW.advisor_id::text);
        END IF;
    ELSIF TG_TABLE_NAME = 'participant' THEN
        IF TG_OP <> 'INSERT' THEN
            SELECT advisor_id INTO adv FROM appointment WHERE id = OLD.appointment_id;
            IF adv IS NOT NULL THEN
                PERFORM pg_notify('portal_queue', adv::text || ' ' || OLD.id::text);
            END IF;
        END IF;
        IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE'
                                AND NEW.appointment_id IS DISTINCT FROM OLD.appointment_id) THEN
            SELECT advisor_id INTO adv FROM appointment WHERE id = NEW.appointment_id;
            IF adv IS NOT NULL THEN
                PERFORM pg_notify('portal_queue', adv::text || ' ' || NEW.id::text);
            END IF;
        END IF;
    ELSIF TG_TABLE_NAME = 'provider_meeting' THEN  -- the hand-off's state and failures
        IF TG_OP = 'DELETE' THEN
            SELECT advisor_id INTO adv FROM appointment WHERE id = OLD.appointment_id;
        ELSE
            SELECT advisor_id INTO adv FROM appointment WHERE id = NEW.appointment_id;
        END IF;
        IF adv IS NOT NULL THEN
            PERFORM pg_notify('portal_queue', adv::text);
        END IF;
    ELSE  -- device_check: the queue shows each participant's latest
        IF TG_OP = 'DELETE' THEN
            SELECT a.advisor_id INTO adv FROM participant p
                JOIN appointment a ON a.id = p.appointment_id WHERE p.id = OLD.participant_id;
        ELSE
            SELECT a.advisor_id INTO adv FROM participant p
                JOIN appointment a ON a.id = p.appointment_id WHERE p.id = NEW.participant_id;
        END IF;
        IF adv IS NOT NULL THEN
            PERFORM pg_notify('portal_queue', adv::text);
        END IF;
    END IF;
    RETURN NULL;
END
$$;
"""

PRESENCE_FUNCTION = """
CREATE OR REPLACE FUNCTION portal_presence_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- last_seen_at holds UTC without a zone; extract reads it as such.
    PERFORM pg_notify('portal_presence',
                      NEW.id::text || ' ' || extract(epoch FROM NEW.last_seen_at)::text);
    RETURN NULL;
END
$$;
"""

TRIGGERS = {
    "advisor_queue_changed": "AFTER UPDATE OR DELETE ON advisor",
    "appointment_queue_changed":
        "AFTER INSERT OR UPDATE OF starts_at, duration_minutes, status, waiting_message, "
        "advisor_id, provider OR DELETE ON appointment",
    "participant_queue_changed":
        "AFTER INSERT OR UPDATE OF name, role, journey_state, waiting_since, "
        "identity_checked_at, appointment_id, erased_at OR DELETE ON participant",
    "device_check_queue_changed": "AFTER INSERT OR DELETE ON device_check",
    "provider_meeting_queue_changed": "AFTER INSERT OR UPDATE OR DELETE ON provider_meeting",
}


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(QUEUE_FUNCTION)
    op.execute(PRESENCE_FUNCTION)
    for name, when in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {when} "
                   "FOR EACH ROW EXECUTE FUNCTION portal_queue_changed()")
    op.execute("""
        CREATE TRIGGER participant_presence_changed
        AFTER UPDATE OF last_seen_at ON participant FOR EACH ROW
        WHEN (NEW.last_seen_at IS NOT NULL
              AND NEW.last_seen_at IS DISTINCT FROM OLD.last_seen_at)
        EXECUTE FUNCTION portal_presence_changed()""")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS participant_presence_changed ON participant")
    for name, when in TRIGGERS.items():
        table = when.rsplit(" ON ", 1)[1]
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    op.execute("DROP FUNCTION IF EXISTS portal_presence_changed()")
    op.execute("DROP FUNCTION IF EXISTS portal_queue_changed()")
