"""The domain package never imports the outer layers (bot, mail, scheduler, reports, wiring)
nor their libraries: checked on the AST of every clauses/**/*.py, including files added later."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CLAUSES = Path(__file__).resolve().parents[2] / "clauses"
FORBIDDEN = {
    "bot",
    "mail",
    "scheduler",
    "reports",
    "clausebot",
    "telegram",
    "imapclient",
    "aiosmtplib",
}
MODULES = sorted(CLAUSES.rglob("*.py"))


def imported_roots(path: Path) -> set[str]:
    """Top-level package of every import in the file (relative imports resolve to clauses)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                roots.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, (ast.Name, ast.Attribute))
            and getattr(node.func, "id", getattr(node.func, "attr", None))
            in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            roots.add(node.args[0].value.split(".")[0])
    return roots


def test_there_are_modules_to_check() -> None:
    names = {p.name for p in MODULES}
    assert {"rulebook.py", "counting.py", "eligibility.py", "escalation.py"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(CLAUSES)))
def test_no_forbidden_import(path: Path) -> None:
    assert imported_roots(path) & FORBIDDEN == set()


def test_the_checker_sees_every_import_form(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import telegram.ext\n"
        "from mail.outbox import send\n"
        "import importlib\n"
        "importlib.import_module('scheduler.jobs')\n"
        "def f():\n    import aiosmtplib\n"
        "from . import sibling\n",
        encoding="utf-8",
    )
    assert imported_roots(sample) & FORBIDDEN == {"telegram", "mail", "scheduler", "aiosmtplib"}
