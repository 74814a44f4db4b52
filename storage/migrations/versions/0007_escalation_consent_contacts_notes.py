"""escalation: who consented, consent requested, contact channel; qualitative note topic (2026-12-06)"""
from alembic import op
import sqlalchemy as sa

import storage.models.base

revision = '0007'
down_revision = '0006'


def upgrade() -> None:
    with op.batch_alter_table('escalation_cases') as batch:
        batch.add_column(sa.Column('buyer_consent_by', sa.String(length=254), nullable=True))
        batch.add_column(sa.Column('consent_requested_at', storage.models.base.UTCDateTime(timezone=True),
                                   nullable=True))
    with op.batch_alter_table('escalation_steps') as batch:
        batch.add_column(sa.Column('channel', sa.String(length=20), nullable=True))
    with op.batch_alter_table('qualitative_notes') as batch:
        batch.add_column(sa.Column('topic', sa.String(length=30), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('qualitative_notes') as batch:
        batch.drop_column('topic')
    with op.batch_alter_table('escalation_steps') as batch:
        batch.drop_column('channel')
    with op.batch_alter_table('escalation_cases') as batch:
        batch.drop_column('consent_requested_at')
        batch.drop_column('buyer_consent_by')
