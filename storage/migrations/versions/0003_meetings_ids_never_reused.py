"""meetings: ids never reused on SQLite (reminders are keyed by meeting id)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 22:50:00
"""
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def _autoincrement(enabled: bool) -> None:
    # PostgreSQL sequences never hand an id out twice: only SQLite's table needs rebuilding.
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table('meetings', recreate='always',
                              table_kwargs={'sqlite_autoincrement': enabled}):
        pass


def upgrade() -> None:
    _autoincrement(True)


def downgrade() -> None:
    _autoincrement(False)
