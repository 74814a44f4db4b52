"""Small reads the tests assert on, written once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from storage.db import Database


def count_rows(db: Database, model: Any, *where: Any) -> int:
    """How many rows of `model` match `where` (all of them without a condition)."""
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0
