"""Is the database at the migrations' head? Answered without importing Alembic.

Why: ``clausebot run`` upgrades the schema at every start, and importing Alembic (with Mako) to
find that there is nothing to do costs 10 MB that a long-running process never gives back
(modules are not unloaded). The head is read from the migration files' ``revision`` and
``down_revision`` lines, the database's revision from ``alembic_version``; only when they
differ is :func:`storage.migrate.upgrade` (Alembic itself) called.
``tests/test_migrations.py`` checks that :func:`heads` agrees with Alembic's own answer.
"""

from __future__ import annotations

import ast
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from storage.db import Database

VERSIONS_DIR = Path(__file__).parent / "migrations" / "versions"


def _assigned(path: Path) -> dict[str, object]:
    """The module-level ``revision`` / ``down_revision`` literals of one migration file."""
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                found[target.id] = ast.literal_eval(node.value)
        elif (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
              and node.target.id in ("revision", "down_revision") and node.value is not None):
            found[node.target.id] = ast.literal_eval(node.value)
    return found


def heads(versions_dir: Path = VERSIONS_DIR) -> frozenset[str]:
    """The revisions no other migration revises (one, unless the history has branches)."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in versions_dir.glob("*.py"):
        values = _assigned(path)
        revision = values.get("revision")
        if not isinstance(revision, str):
            continue
        revisions.add(revision)
        down = values.get("down_revision")
        if isinstance(down, str):
            revised.add(down)
        elif isinstance(down, (tuple, list)):  # a merge revision
            revised.update(str(d) for d in down)
    return frozenset(revisions - revised)


def current(db: Database) -> frozenset[str]:
    """The revisions stamped in the database (empty: never migrated)."""
    try:
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    except DBAPIError:  # no alembic_version table yet: a new database
        return frozenset()
    return frozenset(str(r[0]) for r in rows)


def at_head(db: Database) -> bool:
    """True when the database is exactly at the migrations' head: no upgrade to run."""
    found = heads()
    return bool(found) and current(db) == found


def upgrade_if_needed(db: Database) -> bool:
    """Upgrade to the head unless already there (importing Alembic only then); True if it ran."""
    if at_head(db):
        return False
    from storage import migrate

    migrate.upgrade(db)
    return True
