"""registries an agency maintains, market closing and fee milestones

Prescribers' e-mail domains and an active flag, contacts, companies ended rather than deleted,
engagements ended on a date, markets closed on a date, conventions ended early; the fee
milestones of each market replace the per-convention invoice dates (a convention covers many
markets, each invoiced in two halves).
Written 2026-12-06."""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'


def upgrade() -> None:
    op.create_table(
        'prescriber_domains',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('prescriber_id', sa.Integer(), nullable=False),
        sa.Column('domain', sa.String(length=254), nullable=False),
        sa.ForeignKeyConstraint(['prescriber_id'], ['prescribers.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('domain'),
    )
    op.create_index('ix_prescriber_domains_prescriber_id', 'prescriber_domains', ['prescriber_id'])
    op.create_table(
        'fee_milestones',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('market_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('convention_id', sa.Integer(), nullable=True),
        sa.Column('reached_on', sa.Date(), nullable=False),
        sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column('invoiced_on', sa.Date(), nullable=True),
        sa.Column('invoice_reference', sa.String(length=60), nullable=True),
        sa.ForeignKeyConstraint(['convention_id'], ['conventions.id']),
        sa.ForeignKeyConstraint(['market_id'], ['markets.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('market_id', 'kind'),
    )
    op.create_index('ix_fee_milestones_market_id', 'fee_milestones', ['market_id'])
    op.create_index('ix_fee_milestones_convention_id', 'fee_milestones', ['convention_id'])
    for table in ('prescribers', 'contacts', 'companies'):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('active', sa.Boolean(), nullable=False,
                                       server_default=sa.true()))
        with op.batch_alter_table(table) as batch:
            batch.alter_column('active', server_default=None)
    with op.batch_alter_table('engagements') as batch:
        batch.add_column(sa.Column('ended_on', sa.Date(), nullable=True))
    with op.batch_alter_table('markets') as batch:
        batch.add_column(sa.Column('closed_on', sa.Date(), nullable=True))
    with op.batch_alter_table('conventions') as batch:
        batch.add_column(sa.Column('ended_on', sa.Date(), nullable=True))
        batch.drop_column('fee_start_invoiced_on')
        batch.drop_column('fee_final_invoiced_on')


def downgrade() -> None:
    with op.batch_alter_table('conventions') as batch:
        batch.add_column(sa.Column('fee_final_invoiced_on', sa.Date(), nullable=True))
        batch.add_column(sa.Column('fee_start_invoiced_on', sa.Date(), nullable=True))
        batch.drop_column('ended_on')
    with op.batch_alter_table('markets') as batch:
        batch.drop_column('closed_on')
    with op.batch_alter_table('engagements') as batch:
        batch.drop_column('ended_on')
    for table in ('companies', 'contacts', 'prescribers'):
        with op.batch_alter_table(table) as batch:
            batch.drop_column('active')
    op.drop_index('ix_fee_milestones_convention_id', table_name='fee_milestones')
    op.drop_index('ix_fee_milestones_market_id', table_name='fee_milestones')
    op.drop_table('fee_milestones')
    op.drop_index('ix_prescriber_domains_prescriber_id', table_name='prescriber_domains')
    op.drop_table('prescriber_domains')
