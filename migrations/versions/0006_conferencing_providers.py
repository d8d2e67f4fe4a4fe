"""conferencing providers: per-appointment provider, advisor's personal room, provider meetings

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('provider', sa.String(length=32), nullable=True))
    with op.batch_alter_table('advisor', schema=None) as batch_op:
        batch_op.add_column(sa.Column('personal_room_url', sa.String(length=500), nullable=True))

    op.create_table('provider_meeting',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('appointment_id', sa.Integer(), nullable=False),
        sa.Column('provider', sa.String(length=32), nullable=False),
        sa.Column('meeting_key', sa.String(length=64), nullable=False),
        sa.Column('create_time', sa.BigInteger(), nullable=True),
        sa.Column('host_secret', sa.Text(), nullable=True),
        sa.Column('guest_secrets', sa.Text(), nullable=True),
        sa.Column('secrets_expire_at', sa.DateTime(), nullable=True),
        sa.Column('prepared_at', sa.DateTime(), nullable=True),
        sa.Column('ended_at', sa.DateTime(), nullable=True),
        sa.Column('last_failure', sa.String(length=32), nullable=True),
        sa.Column('last_failure_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['appointment_id'], ['appointment.id'], name=op.f('fk_provider_meeting_appointment_id_appointment'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_provider_meeting')),
        sa.UniqueConstraint('appointment_id', name=op.f('uq_provider_meeting_appointment_id')),
        sa.UniqueConstraint('meeting_key', name=op.f('uq_provider_meeting_meeting_key'))
    )


def downgrade():
    op.drop_table('provider_meeting')
    with op.batch_alter_table('advisor', schema=None) as batch_op:
        batch_op.drop_column('personal_room_url')
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.drop_column('provider')
