"""contracts: one per candidature (a hire recorded once), reason of an early end (2026-12-06)"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'


def upgrade() -> None:
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('end_reason', sa.String(length=200), nullable=True))
        batch_op.create_index(batch_op.f('ix_contracts_candidature_id'), ['candidature_id'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contracts_candidature_id'))
        batch_op.drop_column('end_reason')
