"""indexes for the steady day's due queries: contracts.end_date (exits, paths: a window of end
days) and participants.exit_date (six-month follow-ups: a window of exit days)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 09:10:00
"""
from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_contracts_end_date', 'contracts', ['end_date'])
    op.create_index('ix_participants_exit_date', 'participants', ['exit_date'])


def downgrade() -> None:
    op.drop_index('ix_participants_exit_date', table_name='participants')
    op.drop_index('ix_contracts_end_date', table_name='contracts')
