"""chat_report_requests: the chat bilans prepared off the update path get a table of their own
(they were outbox chat rows without a chat); the requests still waiting are moved over

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 06:20:00
"""
from alembic import op
import sqlalchemy as sa

import storage.models.base


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

_STATUS = sa.Enum('pending', 'preparing', 'handed_over', 'failed', name='chatreportstatus',
                  native_enum=False, length=19)
_OLD_PENDING_TEXT = "(bilan en préparation)"

outbox = sa.table(
    'outbox', sa.column('id', sa.Integer), sa.column('channel', sa.String),
    sa.column('dedup_key', sa.String), sa.column('to_chat_id', sa.Integer),
    sa.column('to_user_id', sa.Integer), sa.column('body_text', sa.Text),
    sa.column('attachments', sa.JSON), sa.column('headers', sa.JSON),
    sa.column('status', sa.String), sa.column('attempts', sa.Integer),
    sa.column('next_attempt_at', storage.models.base.UTCDateTime(timezone=True)),
    sa.column('created_at', storage.models.base.UTCDateTime(timezone=True)))
requests = sa.table(
    'chat_report_requests', sa.column('dedup_key', sa.String),
    sa.column('requester_user_id', sa.Integer), sa.column('chat_id', sa.BigInteger),
    sa.column('scope', sa.JSON), sa.column('requested_at', storage.models.base.UTCDateTime(timezone=True)),
    sa.column('status', sa.String), sa.column('attempts', sa.Integer),
    sa.column('due_at', storage.models.base.UTCDateTime(timezone=True)))


def upgrade() -> None:
    op.create_table('chat_report_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dedup_key', sa.String(length=250), nullable=False),
    sa.Column('requester_user_id', sa.Integer(), nullable=True),
    sa.Column('chat_id', sa.BigInteger(), nullable=False),
    sa.Column('scope', sa.JSON(), nullable=False),
    sa.Column('requested_at', storage.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', _STATUS, nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('due_at', storage.models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', storage.models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('outbox_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['outbox_id'], ['outbox.id'],
                            name=op.f('fk_chat_report_requests_outbox_id_outbox')),
    sa.ForeignKeyConstraint(['requester_user_id'], ['users.id'],
                            name=op.f('fk_chat_report_requests_requester_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chat_report_requests')),
    sa.UniqueConstraint('dedup_key', name=op.f('uq_chat_report_requests_dedup_key')),
    sa.UniqueConstraint('outbox_id', name=op.f('uq_chat_report_requests_outbox_id'))
    )
    with op.batch_alter_table('chat_report_requests', schema=None) as batch_op:
        batch_op.create_index('ix_chat_report_requests_due', ['status', 'due_at'], unique=False)

    # Requests still waiting as outbox rows without a chat: moved, not lost.
    bind = op.get_bind()
    waiting = bind.execute(sa.select(outbox).where(
        outbox.c.channel == 'chat', outbox.c.to_chat_id.is_(None),
        outbox.c.status.in_(['pending', 'sending']))).mappings().all()
    for row in waiting:
        request = next((item for item in row['attachments'] or []
                        if isinstance(item, dict) and isinstance(item.get('render'), dict)
                        and isinstance(item.get('chat_id'), int)), None)
        if request is None:
            continue
        bind.execute(requests.insert().values(
            dedup_key=row['dedup_key'], requester_user_id=row['to_user_id'],
            chat_id=request['chat_id'], scope=request['render'], requested_at=row['created_at'],
            status='pending', attempts=0, due_at=row['next_attempt_at']))
        bind.execute(outbox.delete().where(outbox.c.id == row['id']))


def downgrade() -> None:
    # Requests still waiting go back to the outbox in their old shape, not lost.
    bind = op.get_bind()
    waiting = bind.execute(sa.select(requests).where(
        requests.c.status.in_(['pending', 'preparing']))).mappings().all()
    for row in waiting:
        bind.execute(outbox.insert().values(
            channel='chat', dedup_key=row['dedup_key'], to_chat_id=None,
            to_user_id=row['requester_user_id'], body_text=_OLD_PENDING_TEXT,
            attachments=[{'render': row['scope'], 'chat_id': row['chat_id']}], headers={},
            status='pending', attempts=0, next_attempt_at=row['due_at'],
            created_at=row['requested_at']))
    with op.batch_alter_table('chat_report_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_chat_report_requests_due')

    op.drop_table('chat_report_requests')
