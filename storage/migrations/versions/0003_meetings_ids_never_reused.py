"""meetings: ids never reused on SQLite (reminders are keyed by meeting id) (2026-11-24)"""
from alembic import op

revision = '0003'
down_revision = '0002'


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
