"""Dependencies point inward: adapters → domain → storage; adapters never import each other.

The domain's own check (clauses never imports an adapter) is tests/rules/test_import_boundaries.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.rules.test_import_boundaries import imported_roots

ROOT = Path(__file__).resolve().parents[1]

#: package -> our packages it must never import
FORBIDDEN: dict[str, set[str]] = {
    "storage": {"clauses", "bot", "mail", "scheduler", "reports", "clausebot"},
    "reports": {"bot", "mail", "scheduler", "clausebot", "telegram", "imapclient", "aiosmtplib"},
    "bot": {"mail", "scheduler", "clausebot", "imapclient", "aiosmtplib"},
    "mail": {"bot", "scheduler", "clausebot", "telegram"},
    "scheduler": {"bot", "mail", "clausebot", "telegram", "imapclient", "aiosmtplib"},
}

CASES = [(pkg, path) for pkg in FORBIDDEN for path in sorted((ROOT / pkg).rglob("*.py"))]


@pytest.mark.parametrize(("package", "path"), CASES, ids=lambda v: str(v) if isinstance(v, str) else v.name)
def test_package_does_not_import_outward_or_sideways(package: str, path: Path) -> None:
    assert imported_roots(path) & FORBIDDEN[package] == set(), path.relative_to(ROOT)


def test_every_package_has_modules() -> None:
    assert all(any((ROOT / pkg).rglob("*.py")) for pkg in FORBIDDEN)
