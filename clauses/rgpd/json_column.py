"""Comparing JSON columns portably, used by the retention queries."""

from __future__ import annotations

from sqlalchemy import String, cast


def stringify_json_column(column):
    """A JSON column as text, comparable on SQLite and PostgreSQL (PG `json` has no `=`)."""
    return cast(column, String)
