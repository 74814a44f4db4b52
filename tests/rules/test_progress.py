"""Progress of an engagement: expected pro rata temporis, statuses, text bar."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clauses.progress import ProgressStatus, engagement_progress, expected_hours, progress_bar
from clauses.rulebook import shipped_rulebook

RB = shipped_rulebook("default")
D = dt.date
H = Decimal
START, END = D(2025, 1, 1), D(2025, 12, 31)  # 364 days


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (D(2024, 12, 1), H(0)),
        (START, H(0)),
        (D(2025, 7, 2), H("500.00")),  # 182 / 364
        (END, H(1000)),
        (D(2026, 5, 1), H(1000)),
    ],
)
def test_expected_is_pro_rata_temporis(at: dt.date, expected: Decimal) -> None:
    assert expected_hours(H(1000), START, END, at) == expected


@pytest.mark.parametrize(
    ("done", "at", "status"),
    [
        ("1000", D(2025, 3, 1), ProgressStatus.SOLDE),
        ("1200", D(2025, 3, 1), ProgressStatus.SOLDE),
        ("500", D(2025, 7, 2), ProgressStatus.A_JOUR),  # exactly on schedule
        ("480", D(2025, 7, 2), ProgressStatus.A_JOUR),  # 4 % behind: within 5 %
        ("470", D(2025, 7, 2), ProgressStatus.A_RISQUE),  # 6 % behind
        ("426", D(2025, 7, 2), ProgressStatus.A_RISQUE),  # 14,8 % behind
        ("424", D(2025, 7, 2), ProgressStatus.EN_RETARD),  # 15,2 % behind
        ("0", D(2024, 12, 1), ProgressStatus.A_JOUR),  # before the start
        ("990", D(2026, 1, 5), ProgressStatus.EN_RETARD),  # period over, hours still owed
    ],
)
def test_statuses_default(done: str, at: dt.date, status: ProgressStatus) -> None:
    progress = engagement_progress(H(1000), H(done), START, END, at, RB)
    assert progress.status is status
    assert progress.label_fr == status.label_fr
    assert progress.ratio == H(done) / H(1000)


def test_labels_and_summary() -> None:
    assert [s.value for s in ProgressStatus] == ["a_jour", "a_risque", "en_retard", "solde"]
    assert ProgressStatus.SOLDE.label_fr == "soldé"
    progress = engagement_progress(H(1000), H(470), START, END, D(2025, 7, 2), RB)
    assert progress.summary_fr == "470 h réalisées sur 1 000 h (attendu à date : 500 h) — à risque"
    assert progress.remaining == H(530)


def test_nothing_owed_is_solde_and_unknown_period_puts_no_pressure() -> None:
    assert (
        engagement_progress(H(0), H(0), START, END, D(2025, 6, 1), RB).status
        is ProgressStatus.SOLDE
    )
    unknown = engagement_progress(H(100), H(0), None, END, D(2025, 6, 1), RB)
    assert unknown.expected == 0 and unknown.status is ProgressStatus.A_JOUR


@pytest.mark.parametrize(
    ("done", "owed", "bar"),
    [
        (52, 100, "▓▓▓▓▓░░░░░ 52 %"),
        (0, 100, "░░░░░░░░░░ 0 %"),
        (100, 100, "▓▓▓▓▓▓▓▓▓▓ 100 %"),
        (99.6, 100, "▓▓▓▓▓▓▓▓▓░ 100 %"),  # not full until soldé
        (150, 100, "▓▓▓▓▓▓▓▓▓▓ 150 %"),
        (0, 0, "▓▓▓▓▓▓▓▓▓▓ 100 %"),
        (1, 3, "▓▓▓░░░░░░░ 33 %"),
    ],
)
def test_progress_bar(done: float, owed: int, bar: str) -> None:
    assert progress_bar(Decimal(str(done)), Decimal(owed)) == bar


def test_progress_bar_width() -> None:
    assert progress_bar(H(1), H(4), width=4) == "▓░░░ 25 %"


# --- properties ----------------------------------------------------------------------------

owed_st = st.decimals(
    min_value=0, max_value=100000, places=2, allow_nan=False, allow_infinity=False
)
days = st.dates(min_value=D(2020, 1, 1), max_value=D(2032, 12, 31))


@given(owed_st, days, days, days, days)
def test_expected_is_monotonic_and_bounded(
    owed: Decimal, a: dt.date, b: dt.date, t1: dt.date, t2: dt.date
) -> None:
    start, end = min(a, b), max(a, b)
    early, late = min(t1, t2), max(t1, t2)
    e1 = expected_hours(owed, start, end, early)
    e2 = expected_hours(owed, start, end, late)
    assert H(0) <= e1 <= e2 <= owed


@given(owed_st, owed_st, days, days, days)
def test_status_is_consistent(
    owed: Decimal, done: Decimal, a: dt.date, b: dt.date, at: dt.date
) -> None:
    start, end = min(a, b), max(a, b)
    progress = engagement_progress(owed, done, start, end, at, RB)
    assert (progress.status is ProgressStatus.SOLDE) == (done >= owed)
    if done >= progress.expected and done < owed and at <= end:
        assert progress.status is ProgressStatus.A_JOUR
    bar = progress_bar(done, owed)
    assert len(bar.split(" ")[0]) == 10
