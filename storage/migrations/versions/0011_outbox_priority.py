"""outbox.priority: a person's answer (0) is claimed before bulk notifications (1); the due
index becomes (status, priority, id), the claim's filter and order

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 08:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('priority', sa.SmallInteger(), server_default=sa.text('1'),
                                      nullable=False))
        batch_op.drop_index('ix_outbox_due')
        batch_op.create_index('ix_outbox_due', ['status', 'priority', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_due')
        batch_op.create_index('ix_outbox_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.drop_column('priority')
