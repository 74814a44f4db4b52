"""markets: minimum share of hours done by QPV residents (ANRU operations) (2026-11-24)"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'


def upgrade() -> None:
    with op.batch_alter_table('markets') as batch:
        batch.add_column(sa.Column('qpv_hours_share_min', sa.Numeric(precision=5, scale=4),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('markets') as batch:
        batch.drop_column('qpv_hours_share_min')
