"""Complementary suppression holds against subtraction: small territories, every composition.

For territories of 1, 2, 3 and 5 persons spread over up to four categories (every possible
split), the reader sees what a référent receives — exact cells, « < 3 », « (s) », the exact
total — and tries every table consistent with it. No masked cell can be worked out, except
when every non-zero cell is masked (then only the total is known, which is shown anyway).
"""

from __future__ import annotations

import itertools

import pytest

from reports.disclosure import SECONDARY_TEXT, exposed, protect, protect_rows, recoverable
from reports.view import Masker
from tests.reports.attack import possible_values


def _compositions(n: int, k: int):
    return [c for c in itertools.product(range(n + 1), repeat=k) if sum(c) == n]


@pytest.mark.parametrize("persons", [1, 2, 3, 5])
@pytest.mark.parametrize("categories", [1, 2, 3, 4])
def test_no_masked_cell_can_be_recovered(persons, categories):
    threshold = 3
    for values in _compositions(persons, categories):
        masks = Masker("externe", threshold).hidden(list(values))
        shown = [masks.get(i, v) for i, v in enumerate(values)]
        seen = possible_values(shown, persons, threshold)
        withheld = exposed(list(values), threshold)  # the view shows no cell of this table
        for i, values_possible in seen.items():
            assert values[i] in values_possible  # the attack is sound
            if not withheld:
                assert len(values_possible) >= 2, (values, shown)
        if withheld:  # only when every person sits in masked cells
            assert all(i in masks for i, v in enumerate(values) if v > 0)


def test_the_issue_example_a_total_of_6_with_a_3_and_three_small_cells():
    values = [3, 1, 1, 1]
    naive = {1: "< 3", 2: "< 3", 3: "< 3"}
    assert recoverable(values, naive, 3) == [1, 2, 3]  # each is 1: what the issue found
    masks = protect(values, 3)
    assert masks == {0: SECONDARY_TEXT, 1: "< 3", 2: "< 3", 3: "< 3"}
    # a « (s) » is never small (small cells say « < 3 »), so it is 3 and the others are 1:
    assert recoverable(values, masks, 3) == [1, 2, 3, 0]
    assert exposed(values, 3)  # no masking saves this table: the view withholds it
    assert not exposed([3, 1, 1, 1, 4], 3)


def test_edges_one_person_and_exact_bounds():
    assert protect([1], 3) == {0: "< 3"}  # alone, it is the total anyway
    assert protect([1, 1], 3) == {0: "< 3", 1: "< 3"}  # 2 = 1 + 1 is the only split…
    assert recoverable([1, 1], {0: "< 3", 1: "< 3"}, 3) == [0, 1]  # …and all cells are masked
    assert protect([4, 4], 3) == {}
    assert protect([2, 2, 5], 3) == {0: "< 3", 1: "< 3", 2: SECONDARY_TEXT}  # 4 = 2+2 otherwise


def test_rows_are_suppressed_together_and_never_alone():
    # contract types: contracts and persons; a type with one person is suppressed with its hours
    contracts, persons = [5, 1, 4], [4, 1, 4]
    rows = protect_rows([contracts, persons], 3)
    assert rows == {1, 2}  # the smallest other row goes too: its hours cannot be subtracted
    # a row of one person with 4 contracts: small by persons, not by contracts
    assert protect_rows([[4, 6], [1, 5]], 3) == {0, 1}
    assert protect_rows([[4, 6, 7], [3, 5, 6]], 3, primary=[0]) == {0, 1}
    assert protect_rows([[4, 6], [3, 5]], 3) == set()
    assert protect_rows([[1]], 3) == {0}
