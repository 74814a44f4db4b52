"""Counted hours: table tests from the rulebook, and invariants by property-based testing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clauses.counting import (
    add_months,
    count_month,
    iter_months,
    month_end,
    month_start,
    months_between,
    training_cap,
)
from clauses.errors import NegativeHoursError, UnknownContractTypeError
from clauses.rulebook import Rulebook, shipped_rulebook

DEFAULT = shipped_rulebook("default")
RURAL = shipped_rulebook("rural")
D = dt.date
H = Decimal


@pytest.mark.parametrize(
    ("kind", "start", "month", "work", "training", "end", "expected"),
    [
        # work only, inside every window: all counted
        ("cdd", D(2025, 1, 6), D(2025, 2, 1), "120", "0", None, ("120", "0")),
        # training within the 30 % share: all counted (30 / (70 + 30) = 30 %)
        ("cdd", D(2025, 1, 6), D(2025, 2, 1), "70", "30", None, ("70", "30")),
        # training above the share: 100 work -> at most 42.85 training (42.85 / 142.85 < 30 %)
        ("cdi", D(2025, 1, 6), D(2025, 2, 1), "100", "80", None, ("100", "42.85")),
        # apprenticeship: 50 % cap -> training up to the work hours
        ("apprentissage", D(2025, 1, 6), D(2025, 2, 1), "80", "100", None, ("80", "80")),
        # AI staff lending: training does not count
        ("mad_ai", D(2025, 1, 6), D(2025, 2, 1), "90", "10", None, ("90", "0")),
        # pre-hiring training: work does not count, training fully counts
        ("formation", D(2025, 1, 6), D(2025, 2, 1), "5", "120", None, ("0", "120")),
        # CDI counted 12 months: the 12th month (Dec 2025 for a January start) counts...
        ("cdi", D(2025, 1, 20), D(2025, 12, 1), "151.67", "0", None, ("151.67", "0")),
        # ...the 13th does not
        ("cdi", D(2025, 1, 20), D(2026, 1, 1), "151.67", "0", None, ("0", "0")),
        # CDD: no month cap
        ("cdd", D(2025, 1, 20), D(2027, 1, 1), "100", "0", None, ("100", "0")),
        # past the clause eligibility end: nothing counts; the last month counts in full
        ("cdd", D(2025, 1, 6), D(2027, 3, 1), "100", "0", D(2027, 2, 28), ("0", "0")),
        ("cdd", D(2025, 1, 6), D(2027, 3, 1), "100", "0", D(2027, 3, 14), ("100", "0")),
        # a month before the contract start counts nothing
        ("cdd", D(2025, 3, 1), D(2025, 2, 1), "100", "0", None, ("0", "0")),
        # zero hours
        ("cdd", D(2025, 1, 6), D(2025, 2, 1), "0", "0", None, ("0", "0")),
    ],
)
def test_count_month_default_rulebook(
    kind: str,
    start: dt.date,
    month: dt.date,
    work: str,
    training: str,
    end: dt.date | None,
    expected: tuple[str, str],
) -> None:
    counted = count_month(kind, start, month, H(work), H(training), end, DEFAULT)
    assert (counted.work, counted.training) == (H(expected[0]), H(expected[1]))
    assert counted.total == counted.work + counted.training
    if counted.total < H(work) + H(training):
        assert counted.reasons, "every hour not counted must be explained"
    else:
        assert counted.reasons == ()


def test_reasons_are_french_sentences() -> None:
    capped = count_month("cdi", D(2025, 1, 6), D(2025, 2, 1), H(100), H(80), None, DEFAULT)
    assert capped.reasons == (
        "Formation plafonnée à 30 % des heures comptées : 42,85 h retenues sur 80 h déclarées.",
    )
    late = count_month("cdi", D(2025, 1, 20), D(2026, 1, 1), H(100), H(0), None, DEFAULT)
    assert "CDI compté 12 mois à partir du début du contrat (20/01/2025)" in late.reasons[0]
    after = count_month("cdd", D(2025, 1, 6), D(2027, 3, 1), H(100), H(0), D(2027, 2, 28), DEFAULT)
    assert "fin d'éligibilité à la clause (28/02/2027)" in after.reasons[0]


def test_errors() -> None:
    with pytest.raises(NegativeHoursError):
        count_month("cdd", D(2025, 1, 6), D(2025, 2, 1), H(-1), H(0), None, DEFAULT)
    with pytest.raises(UnknownContractTypeError):
        count_month("benevolat", D(2025, 1, 6), D(2025, 2, 1), H(1), H(0), None, DEFAULT)


def test_accepts_a_contract_type_object() -> None:
    kind = DEFAULT.contract_type("cdi")
    assert count_month(kind, D(2025, 1, 1), D(2025, 1, 1), H(10), H(0), None, DEFAULT).total == 10


@pytest.mark.parametrize(
    ("work", "share", "cap"),
    [
        ("100", "0.30", "42.85"),
        ("100", "0.5", "100"),
        ("0", "0.3", "0"),
        ("7", "0", "0"),
        ("1", "0.3333", "0.49"),
    ],
)
def test_training_cap(work: str, share: str, cap: str) -> None:
    assert training_cap(H(work), H(share)) == H(cap)
    assert training_cap(H(work), H(1)) is None


def test_calendar_helpers() -> None:
    assert month_start(D(2025, 3, 17)) == D(2025, 3, 1)
    assert month_end(D(2024, 2, 3)) == D(2024, 2, 29)
    assert add_months(D(2025, 1, 31), 1) == D(2025, 2, 28)
    assert add_months(D(2025, 11, 15), 3) == D(2026, 2, 15)
    assert add_months(D(2025, 3, 1), -3) == D(2024, 12, 1)
    assert months_between(D(2025, 1, 31), D(2026, 1, 1)) == 12
    assert list(iter_months(D(2024, 11, 20), D(2025, 2, 1))) == [
        D(2024, 11, 1),
        D(2024, 12, 1),
        D(2025, 1, 1),
        D(2025, 2, 1),
    ]


# --- properties ----------------------------------------------------------------------------

hours = st.decimals(min_value=0, max_value=260, places=2, allow_nan=False, allow_infinity=False)
days = st.dates(min_value=D(2020, 1, 1), max_value=D(2030, 12, 31))
kinds = st.sampled_from(sorted(DEFAULT.contract_types))
rulebooks = st.sampled_from([DEFAULT, RURAL])


@settings(max_examples=300)
@given(rulebooks, kinds, days, days, hours, hours, st.one_of(st.none(), days))
def test_counted_never_exceeds_declared_nor_the_training_share(
    rulebook: Rulebook,
    kind: str,
    start: dt.date,
    month: dt.date,
    work: Decimal,
    training: Decimal,
    end: dt.date | None,
) -> None:
    counted = count_month(kind, start, month, work, training, end, rulebook)
    assert H(0) <= counted.work <= work
    assert H(0) <= counted.training <= training
    assert counted.total == counted.work + counted.training <= work + training
    cap = rulebook.contract_type(kind).training_share_cap
    assert counted.training <= cap * counted.total  # exact Decimal comparison


@settings(max_examples=200)
@given(rulebooks, kinds, days, st.integers(min_value=0, max_value=40), hours, hours)
def test_month_cap_cuts_exactly_after_n_months(
    rulebook: Rulebook, kind: str, start: dt.date, offset: int, work: Decimal, training: Decimal
) -> None:
    month = add_months(month_start(start), offset)
    counted = count_month(kind, start, month, work, training, None, rulebook)
    cap_months = rulebook.contract_type(kind).counted_months_cap
    if cap_months is not None and offset >= cap_months:
        assert counted.total == 0
    elif work > 0 and rulebook.contract_type(kind).work_hours_count:
        assert counted.work == work
