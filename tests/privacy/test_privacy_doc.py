"""docs/privacy.md states what the code does: the matrix and the retention defaults."""

from __future__ import annotations

import re
from pathlib import Path

from clausebot.settings import Settings
from clauses.context import Policy
from clauses.rgpd import matrix_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "privacy.md"


def _block(name: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(rf"<!-- {name}:begin -->\n(.*?)\n<!-- {name}:end -->", text, re.S)
    assert match, f"block {name} missing from {DOC}"
    return match.group(1)


def test_the_documented_matrix_is_the_generated_one():
    assert _block("matrix") == matrix_markdown(), (
        "docs/privacy.md is stale: paste clauses.rgpd.matrix_markdown() between the markers"
    )


def test_the_documented_retention_defaults_are_the_code_defaults():
    rows = {line.split("|")[3].strip().split()[0].strip("`"): line
            for line in _block("retention").splitlines()[2:]}
    policy, settings = Policy(), Settings()
    expected = {
        "retention_rejected_months": f"{policy.retention_rejected_months} months",
        "retention_inactive_months": f"{policy.retention_inactive_months} months",
        "retention_proof_months": f"{policy.retention_proof_months} months",
        "retention_raw_mail_days": f"{policy.retention_raw_mail_days} days",
        "retention_chat_days": f"{policy.retention_chat_days} days",
    }
    assert set(rows) == set(expected)
    for name, text in expected.items():
        assert text in rows[name]
        assert getattr(settings, name) == getattr(policy, name)
