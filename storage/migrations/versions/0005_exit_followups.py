"""exit_followups: the exit question and the 6-month follow-up asked to employers (2026-12-06)"""
import sqlalchemy as sa

import storage.models.base
from alembic import op

revision = '0005'
down_revision = '0004'


def upgrade() -> None:
    op.create_table(
        'exit_followups',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('participant_id', sa.Integer(), nullable=False),
        sa.Column('contract_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('asked_at', storage.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('answered_at', storage.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('situation', sa.String(length=60), nullable=True),
        sa.Column('answered_by_user_id', sa.Integer(), nullable=True),
        sa.Column('answered_by_email', sa.String(length=254), nullable=True),
        sa.ForeignKeyConstraint(['answered_by_user_id'], ['users.id'],
                                name=op.f('fk_exit_followups_answered_by_user_id_users')),
        sa.ForeignKeyConstraint(['contract_id'], ['contracts.id'],
                                name=op.f('fk_exit_followups_contract_id_contracts')),
        sa.ForeignKeyConstraint(['participant_id'], ['participants.id'],
                                name=op.f('fk_exit_followups_participant_id_participants')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_exit_followups')),
        sa.UniqueConstraint('contract_id', 'kind', name=op.f('uq_exit_followups_contract_id_kind')),
    )
    with op.batch_alter_table('exit_followups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exit_followups_contract_id'), ['contract_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_exit_followups_participant_id'), ['participant_id'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('exit_followups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exit_followups_participant_id'))
        batch_op.drop_index(batch_op.f('ix_exit_followups_contract_id'))
    op.drop_table('exit_followups')
