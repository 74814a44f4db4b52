"""Small cells: no masked count can be recovered from the exact total by subtraction."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from reports.view import SECONDARY_TEXT, Masker


def test_a_lone_small_cell_takes_the_smallest_other_cell_with_it():
    m = Masker("externe", 3)
    assert m.hidden([10, 2, 7, 0]) == {1: "< 3", 2: SECONDARY_TEXT}
    assert m.hidden([10, 2, 1]) == {1: "< 3", 2: "< 3"}  # two small cells protect each other
    assert m.hidden([10, 4, 7]) == {}
    assert m.hidden([2]) == {0: "< 3"}  # alone, it is the total anyway
    assert Masker("interne", 3).hidden([10, 2, 7]) == {}


def test_additive_cells_hide_the_share_too():
    cells = Masker("externe", 3).additive([10, 2, 7], 19)
    assert [c.text for c, _ in cells] == ["10", "< 3", SECONDARY_TEXT]
    assert [s.text for _, s in cells][1:] == ["–", "–"]
    assert cells[0][1].value is not None


@given(st.lists(st.integers(min_value=0, max_value=12), min_size=2, max_size=8),
       st.integers(min_value=2, max_value=5))
def test_no_masked_count_is_alone_unless_it_is_the_only_non_zero_row(values, threshold):
    hidden = Masker("externe", threshold).hidden(values)
    small = [i for i, n in enumerate(values) if 0 < n < threshold]
    assert set(small) <= set(hidden)  # every small cell is masked
    non_zero = [i for i, n in enumerate(values) if n > 0]
    if hidden:
        assert len(hidden) >= 2 or len(non_zero) == 1
    assert all(values[i] > 0 for i in hidden)  # zeros are never masked: they reveal nothing
