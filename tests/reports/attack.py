"""The attacker's subtraction, shared by the disclosure tests: what a masked cell can still be.

A table shows exact cells, masked cells (« < 3 » is 1 to threshold-1, « (s) » is threshold or
more) and an exact total; trying every filling of the masked cells that adds up to the total
tells what each masked cell could be. One place, so every table is attacked the same way.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from reports.disclosure import SECONDARY_TEXT


def possible_values(shown: Sequence[object], total: int, threshold: int = 3) -> dict[int, set[int]]:
    """Index of each masked (text) cell -> every value it can take given the others and `total`."""
    masked = [i for i, v in enumerate(shown) if isinstance(v, str)]
    ranges = [range(1, threshold) if shown[i] != SECONDARY_TEXT else range(threshold, total + 1)
              for i in masked]
    known = sum(v for v in shown if isinstance(v, int))
    seen: dict[int, set[int]] = {i: set() for i in masked}
    for guess in itertools.product(*ranges):
        if known + sum(guess) == total:
            for i, g in zip(masked, guess, strict=True):
                seen[i].add(g)
    return seen
