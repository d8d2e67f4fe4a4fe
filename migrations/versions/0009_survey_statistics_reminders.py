"""survey flag, anonymous statistics counters, reminders

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-06 10:00:00.000000

The survey's answers and all statistics live in stat_counter: counters per ISO week, team and
dimension, with no link to a person or an appointment (portal/statistics.py). A participant
row only says whether the survey was offered or answered; an appointment row whether its
outcome has been counted. Reminders: one row per participant, start time and lead.
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome_counted', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table('participant', schema=None) as batch_op:
        batch_op.add_column(sa.Column('survey', sa.Enum('offered', 'answered', name='surveystate',
                                                        native_enum=False, length=32),
                                      nullable=True))

    op.create_table('stat_counter',
        sa.Column('week', sa.String(length=8), nullable=False),
        sa.Column('team_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('dimension', sa.String(length=32), nullable=False),
        sa.Column('value', sa.String(length=32), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('week', 'team_id', 'dimension', 'value',
                                name=op.f('pk_stat_counter'))
    )
    op.create_table('reminder',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('participant_id', sa.Integer(), nullable=False),
        sa.Column('starts_at', sa.DateTime(), nullable=False),
        sa.Column('lead_minutes', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=True),
        sa.Column('mail_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['mail_id'], ['outgoing_mail.id'],
                                name=op.f('fk_reminder_mail_id_outgoing_mail'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['participant_id'], ['participant.id'],
                                name=op.f('fk_reminder_participant_id_participant'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reminder')),
        sa.UniqueConstraint('participant_id', 'starts_at', 'lead_minutes',
                            name='uq_reminder_once'),
        sa.UniqueConstraint('token_hash', name=op.f('uq_reminder_token_hash'))
    )
    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reminder_participant_id'), ['participant_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_reminder_mail_id'), ['mail_id'], unique=False)


def downgrade():
    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reminder_mail_id'))
        batch_op.drop_index(batch_op.f('ix_reminder_participant_id'))
    op.drop_table('reminder')
    op.drop_table('stat_counter')
    with op.batch_alter_table('participant', schema=None) as batch_op:
        batch_op.drop_column('survey')
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.drop_column('outcome_counted')
