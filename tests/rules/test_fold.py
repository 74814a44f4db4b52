"""``clauses.formatting.fold``: the one matching form of typed names, on both of its paths
(plain ASCII, and text with accents or typographic characters)."""

from __future__ import annotations

import pytest

from clauses.formatting import fold


@pytest.mark.parametrize(("text", "folded"), [
    ("Février", "fevrier"),
    ("FÉVR.", "fevr."),
    ("  BTP   Brun\tCroix-Rousse\n1 ", "btp brun croix-rousse 1"),  # ASCII: spaces and case only
    ("Intérim d\u2019insertion", "interim d'insertion"),  # typographic apostrophe
    ("Ville\u00a0de\u202fGivors", "ville de givors"),  # no-break and narrow no-break spaces
    ("Bâti\u2003Sud", "bati sud"),  # em space: any Unicode space is one space
    ("ﬁnances Œuvre", "finances œuvre"),  # compatibility forms decomposed, Œ kept
    ("e\u0301cole", "ecole"),  # an already decomposed accent
    ("", ""),
])
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_fold_of_nothing_is_empty() -> None:
    assert fold(None) == ""  # type: ignore[arg-type]
