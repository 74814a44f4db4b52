"""declarations: the facilitator's control (when validated or contested, the contest's reason,
an index on status and month)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 03:30:00
"""
from alembic import op
import sqlalchemy as sa

import storage.models.base


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('hour_declarations') as batch:
        batch.add_column(sa.Column('controlled_at', storage.models.base.UTCDateTime(timezone=True),
                                   nullable=True))
        batch.add_column(sa.Column('control_reason', sa.Text(), nullable=True))
    op.create_index('ix_hour_declarations_status_month', 'hour_declarations', ['status', 'month'])


def downgrade() -> None:
    op.drop_index('ix_hour_declarations_status_month', table_name='hour_declarations')
    with op.batch_alter_table('hour_declarations') as batch:
        batch.drop_column('control_reason')
        batch.drop_column('controlled_at')
