"""job offers: trade, place, start, duration, hours per week, approval and closing; chosen candidatures (2026-12-06)"""
from alembic import op
import sqlalchemy as sa

import storage.models.base

revision = '0008'
down_revision = '0007'


def upgrade() -> None:
    with op.batch_alter_table('job_offers') as batch:
        batch.add_column(sa.Column('trade', sa.String(length=60), nullable=True))
        batch.add_column(sa.Column('place', sa.String(length=120), nullable=True))
        batch.add_column(sa.Column('start_date', sa.Date(), nullable=True))
        batch.add_column(sa.Column('duration_months', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('hours_per_week', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('approved_at', storage.models.base.UTCDateTime(timezone=True),
                                   nullable=True))
        batch.add_column(sa.Column('closed_at', storage.models.base.UTCDateTime(timezone=True),
                                   nullable=True))
    with op.batch_alter_table('candidatures') as batch:
        batch.add_column(sa.Column('chosen_at', storage.models.base.UTCDateTime(timezone=True),
                                   nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('candidatures') as batch:
        batch.drop_column('chosen_at')
    with op.batch_alter_table('job_offers') as batch:
        batch.drop_column('closed_at')
        batch.drop_column('approved_at')
        batch.drop_column('hours_per_week')
        batch.drop_column('duration_months')
        batch.drop_column('start_date')
        batch.drop_column('place')
        batch.drop_column('trade')
