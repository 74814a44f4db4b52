"""Issue 19: the CLI and chat adapters call use cases in `clauses/`; they build no query.

A module of `clausebot/` or `bot/` importing a query builder from SQLAlchemy (select, insert,
update, delete, text) is writing SQL the domain should own. The chat's conversation-state store
and per-user advisory lock (bot/state.py, bot/core.py) are storage plumbing, not a rule.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILDERS = {"select", "insert", "update", "delete", "text", "union", "exists"}
PLUMBING = {"bot/state.py", "bot/core.py"}


def query_builders(path: Path) -> set[str]:
    """The SQLAlchemy query builders ``path`` imports by name, or uses as ``sqlalchemy.x``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            found |= {a.name for a in node.names} & BUILDERS
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id in {"sqlalchemy", "sa"} and node.attr in BUILDERS):
            found.add(node.attr)
    return found


ADAPTERS = sorted(p for pkg in ("clausebot", "bot") for p in (ROOT / pkg).rglob("*.py")
                  if p.relative_to(ROOT).as_posix() not in PLUMBING)


@pytest.mark.parametrize("path", ADAPTERS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_adapter_builds_no_query(path: Path) -> None:
    assert query_builders(path) == set(), (
        f"{path.relative_to(ROOT)} builds SQL: move the read into a use case in clauses/")


def test_the_rule_sees_a_query_builder() -> None:
    # the plumbing modules do build queries: the checker must notice them
    assert "select" in query_builders(ROOT / "bot" / "state.py")
    assert "select" in query_builders(ROOT / "bot" / "core.py")
    assert len(ADAPTERS) > 20
