"""The authorization matrix rendered for people: docs/privacy.md and `clausebot rgpd matrice`."""

from __future__ import annotations

from clauses.authz import MATRIX
from storage.models import Role

_SCOPE_LABELS = {
    "fr": {"all": "tout", "own_company": "son entreprise", "own_donneur": "son donneur d'ordre",
           "own_prescriber": "ses candidats", "none": "—"},
    "en": {"all": "all", "own_company": "own company", "own_donneur": "own donneur",
           "own_prescriber": "own candidates", "none": "—"},
}


def matrix_markdown(lang: str = "en") -> str:
    """The authorization matrix as a Markdown table, generated from `clauses.authz.MATRIX`.

    docs/privacy.md embeds the English table (a test keeps them equal); `clausebot rgpd
    matrice` prints the French one.
    """
    labels = _SCOPE_LABELS[lang]
    roles = list(Role)
    head = "| action | " + " | ".join(r.value for r in roles) + " |"
    sep = "|---" * (len(roles) + 1) + "|"
    rows = [
        f"| `{action.value}` | "
        + " | ".join(labels[MATRIX[action].get(r, "none")] for r in roles) + " |"
        for action in MATRIX
    ]
    return "\n".join([head, sep, *rows])
