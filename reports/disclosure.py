"""Statistical disclosure control of one additive table: no masked count can be worked back.

A table leaving the agency lists counts (persons per category) that add up to an exact total.
Small counts (1 to threshold−1) are masked « < t ». Masking is useless if a reader can solve
for the cell: with a total of 6, a cell of 3 and three « < 3 », each masked cell is 1.

The reader knows: every exact cell, the total, that a « < t » cell lies in [1, t−1] and that a
complementary cell « (s) » lies in [1, total]. With one equation (the masked cells add up to
total − exact cells) and those bounds, the values a masked cell can take form an interval:

    min_i = max(lo_i, S − Σ_{j≠i} hi_j)      max_i = min(hi_i, S − Σ_{j≠i} lo_j)

A cell is protected when min_i < max_i. :func:`protect` masks small cells, then keeps masking
the smallest exact non-zero cell (complementary suppression) until every masked cell is
protected; when no cell is left to mask the whole column is masked. The residual case — every
person in a single category — cannot be protected by masking cells (the label tells); the
view then shows only masked cells, never an exact one.
"""

from __future__ import annotations

from collections.abc import Sequence

SECONDARY_TEXT = "(s)"


def bounds(values: Sequence[int], masks: dict[int, str], threshold: int) -> dict[int, tuple[int, int]]:
    """What a reader can tell about each masked cell: its (min, max) given everything shown."""
    total = sum(values)
    known = sum(v for i, v in enumerate(values) if i not in masks)
    rest = total - known
    lo = dict.fromkeys(masks, 1)
    hi = {i: total if text == SECONDARY_TEXT else threshold - 1 for i, text in masks.items()}
    out = {}
    for i in masks:
        others_hi = sum(hi[j] for j in masks if j != i)
        others_lo = sum(lo[j] for j in masks if j != i)
        out[i] = (max(lo[i], rest - others_hi), min(hi[i], rest - others_lo))
    return out


def recoverable(values: Sequence[int], masks: dict[int, str], threshold: int) -> list[int]:
    """The masked cells whose value a reader can work out beyond what the mask itself says
    (with a threshold of 2, « < 2 » already means 1: the policy, not the table, tells)."""
    prior_open = threshold > 2
    return [i for i, (low, high) in bounds(values, masks, threshold).items()
            if low >= high and (prior_open or masks[i] == SECONDARY_TEXT)]


def protect(values: Sequence[int], threshold: int) -> dict[int, str]:
    """Which cells to mask, and with what text, so that none can be worked back."""
    masks = {i: f"< {threshold}" for i, n in enumerate(values) if 0 < n < threshold}
    if not masks:
        return masks
    while recoverable(values, masks, threshold):
        exact = sorted((n, i) for i, n in enumerate(values) if i not in masks and n > 0)
        if not exact:
            break
        masks[exact[0][1]] = SECONDARY_TEXT
    if len(masks) == 1:  # never one masked cell beside an exact total, whatever the threshold
        exact = sorted((n, i) for i, n in enumerate(values) if i not in masks and n > 0)
        if exact:
            masks[exact[0][1]] = SECONDARY_TEXT
    return masks
