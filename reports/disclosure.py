"""Statistical disclosure control of one additive table: no masked count can be worked back.

A table leaving the agency lists counts (persons per category) that add up to an exact total.
Small counts (1 to threshold−1) are masked « < t ». Masking is useless if a reader can solve
for the cell: with a total of 6, a cell of 3 and three « < 3 », each masked cell is 1.

The reader knows: every exact cell, the total, that a « < t » cell lies in [1, t−1] and that a
complementary cell « (s) » lies in [t, total] (small cells always show « < t », so a « (s) » is
never small). With one equation (the masked cells add up to
total − exact cells) and those bounds, the values a masked cell can take form an interval:

    min_i = max(lo_i, S − Σ_{j≠i} hi_j)      max_i = min(hi_i, S − Σ_{j≠i} lo_j)

A cell is protected when min_i < max_i. :func:`protect` masks small cells, then keeps masking
the smallest exact non-zero cell (complementary suppression) until every masked cell is
protected; when no cell is left to mask the whole column is masked. The residual case — every
person in masked cells and the total still pins them (1 person; 2 persons « < 3 » and « < 3 »;
a « (s) » of 3 beside three « < 3 » in a total of 6) — cannot be protected by masking cells (the
labels tell which categories are not empty): :func:`exposed` says so and the view then withholds
the whole table (:data:`WITHHELD_TEXT`).

Neighbouring figures. A row about fewer than t persons carries personal figures next to its
count (a contract type's hours, a company's persons): :func:`protect_rows` masks whole rows, the
same rows in every column, and adds complementary rows until no count column can be solved and
at least two rows are masked (so an exact hours total cannot give one masked row's hours away).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

SECONDARY_TEXT = "(s)"
WITHHELD_TEXT = "Détail non diffusé (secret statistique : trop peu de personnes)"
"""Shown instead of a table whose every person sits in cells the total would give away."""


def bounds(values: Sequence[int], masks: dict[int, str], threshold: int) -> dict[int, tuple[int, int]]:
    """What a reader can tell about each masked cell: its (min, max) given everything shown."""
    total = sum(values)
    known = sum(v for i, v in enumerate(values) if i not in masks)
    rest = total - known
    lo = {i: threshold if text == SECONDARY_TEXT else 1 for i, text in masks.items()}
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


def exposed(values: Sequence[int], threshold: int) -> bool:
    """Whether even the best masking of this additive table leaves a cell a reader can work out
    (every person in masked cells that the exact total pins): the table must be withheld."""
    if threshold < 2 or not any(0 < n < threshold for n in values):
        return False
    return bool(recoverable(values, protect(values, threshold), threshold))


def column_masks(values: Sequence[int], rows: Iterable[int], threshold: int) -> dict[int, str]:
    """The texts of one count column whose ``rows`` are suppressed (zero cells stay: they tell
    nothing about anyone)."""
    return {i: f"< {threshold}" if values[i] < threshold else SECONDARY_TEXT
            for i in rows if values[i] > 0}


def protect_rows(columns: Sequence[Sequence[int]], threshold: int, *,
                 primary: Iterable[int] = ()) -> set[int]:
    """Rows to suppress in a table of several count columns that each add up to an exact total
    (contracts, persons) and carry other figures of the same rows (hours).

    A row is suppressed when one of its counts is small or it is in ``primary``; then the
    smallest other non-empty rows (by their first column) are suppressed too until no masked
    count can be worked back in any column and at least two rows are suppressed — one masked
    row next to an exact total of hours would give its hours away by subtraction.
    """
    width = len(columns[0]) if columns else 0
    rows = {i for i in primary if any(col[i] for col in columns)}
    rows |= {i for col in columns for i, n in enumerate(col) if 0 < n < threshold}
    if not rows or threshold < 2:
        return rows
    while len(rows) == 1 or any(
            recoverable(col, column_masks(col, rows, threshold), threshold) for col in columns):
        rest = sorted((columns[0][i], i) for i in range(width)
                      if i not in rows and any(col[i] for col in columns))
        if not rest:
            break
        rows.add(rest[0][1])
    return rows
