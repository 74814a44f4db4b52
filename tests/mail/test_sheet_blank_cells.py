"""The blank-cell test of the declaration reader agrees with the cell text it stands for."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from mail.spreadsheet import _cell_text, _has_text


@given(st.text())
def test_a_text_cell_is_blank_exactly_when_its_text_is_empty(value: str) -> None:
    assert _has_text(value) == (_cell_text(value) != "")


def test_the_other_cell_values() -> None:
    for value in (None, "", " ", "\xa0", "\t\n", "\u200b", "0", 0, 0.0, 1.5, False, True,
                  Decimal(0), dt.date(2025, 3, 1), dt.datetime(2025, 3, 1, 8), dt.time(0),
                  dt.timedelta(0)):
        assert _has_text(value) == (_cell_text(value) != ""), repr(value)
