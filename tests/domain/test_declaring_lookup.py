"""The one "contract running in month M" rule and the one "eligibility still valid" rule: the SQL
expression and its Python twin agree, on explicit edges and on generated cases."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from clauses.counting import add_months
from clauses.declaring.lookup import (
    diagnosis_cutoff,
    eligibility_valid,
    is_eligibility_valid,
    is_running_during,
    is_running_in_month,
    is_still_running_after,
    running_during,
    running_in_month,
    running_in_months,
    still_running_after,
)
from storage.models import Contract, Eligibility
from tests import factories as f

MARCH = dt.date(2025, 3, 1)


def _one_contract(s, start: dt.date, end: dt.date | None) -> Contract:
    fac = f.user(s)
    d = f.donneur(s)
    e = f.engagement(s, f.lot(s, f.market(s, d)), f.company(s))
    return f.contract(s, f.participant(s, validated_by=fac), e, start=start, end=end)


@pytest.mark.parametrize(
    ("start", "end", "running"),
    [
        (dt.date(2025, 1, 10), dt.date(2025, 3, 1), True),    # ends on the 1st: March counts
        (dt.date(2025, 1, 10), dt.date(2025, 2, 28), False),  # ends the day before
        (dt.date(2025, 1, 10), dt.date(2025, 3, 15), True),   # ends mid-month
        (dt.date(2025, 3, 31), None, True),                   # starts on the last day
        (dt.date(2025, 4, 1), None, False),                   # starts the day after
        (dt.date(2024, 1, 1), None, True),                    # open-ended (CDI)
        (dt.date(2025, 3, 31), dt.date(2025, 3, 31), True),   # one day, the last
    ],
)
def test_running_in_march_edges_sql_and_python_agree(db, start, end, running):
    assert is_running_in_month(start, end, MARCH) is running
    assert is_running_in_month(start, end, dt.date(2025, 3, 17)) is running  # any day names it
    with db.session() as s:
        c = _one_contract(s, start, end)
        found = s.scalar(select(Contract.id).where(Contract.id == c.id, running_in_month(MARCH)))
        assert (found is not None) is running


@pytest.mark.parametrize(
    ("start", "end", "still"),
    [
        (dt.date(2025, 2, 3), dt.date(2025, 6, 13), False),  # its last day: the exit day itself
        (dt.date(2025, 2, 3), dt.date(2025, 6, 14), True),   # one more day to work
        (dt.date(2025, 2, 3), dt.date(2025, 6, 12), False),  # ended the day before
        (dt.date(2025, 6, 13), None, True),                  # a CDI starting that day
        (dt.date(2025, 6, 14), None, False),                 # starts the day after
        (dt.date(2025, 6, 13), dt.date(2025, 6, 13), False), # one day, that day
    ],
)
def test_still_running_after_a_day_sql_and_python_agree(db, start, end, still):
    """The exits' day-level form: is the person still under contract once 13/06 is over?"""
    day = dt.date(2025, 6, 13)
    assert is_still_running_after(start, end, day) is still
    with db.session() as s:
        c = _one_contract(s, start, end)
        found = s.scalar(select(Contract.id).where(Contract.id == c.id, still_running_after(day)))
        assert (found is not None) is still


def test_running_over_months_includes_both_ends(db):
    with db.session() as s:
        c = _one_contract(s, dt.date(2025, 5, 31), dt.date(2025, 6, 1))
        q = select(Contract.id).where(Contract.id == c.id)
        assert s.scalar(q.where(running_in_months(dt.date(2025, 1, 1), dt.date(2025, 5, 1))))
        assert s.scalar(q.where(running_in_months(dt.date(2025, 6, 1), dt.date(2025, 9, 1))))
        assert s.scalar(q.where(running_in_months(dt.date(2025, 7, 1), dt.date(2025, 9, 1)))) is None


days = st.dates(min_value=dt.date(2024, 11, 1), max_value=dt.date(2025, 5, 31))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=days, length=st.one_of(st.none(), st.integers(0, 90)), first=days,
       span=st.integers(0, 60))
def test_running_during_property_sql_equals_python(db, start, length, first, span):
    end = None if length is None else start + dt.timedelta(days=length)
    last = first + dt.timedelta(days=span)
    with db.session() as s:
        s.execute(delete(Contract))
        c = _one_contract(s, start, end)
        sql = s.scalar(select(Contract.id).where(Contract.id == c.id, running_during(first, last)))
        assert (sql is not None) == is_running_during(start, end, first, last)
        s.rollback()


@pytest.mark.parametrize(
    ("at", "months"),
    [(dt.date(2025, 2, 28), 1), (dt.date(2025, 3, 31), 1), (dt.date(2025, 8, 31), 6),
     (dt.date(2024, 2, 29), 12), (dt.date(2025, 3, 1), 1)],
)
def test_diagnosis_cutoff_is_the_first_day_still_usable(at, months):
    cut = diagnosis_cutoff(at, months)
    assert add_months(cut, months) > at
    assert add_months(cut - dt.timedelta(days=1), months) <= at


@pytest.mark.parametrize(
    ("validated_on", "entered", "valid"),
    [
        (dt.date(2025, 3, 1), False, True),    # 6 months later, 31/08 is the last usable day
        (dt.date(2025, 2, 28), False, False),  # expired on 28/08
        (dt.date(2024, 1, 1), True, True),     # entered: the clause window takes over
        (dt.date(2025, 8, 31), False, True),   # validated on the day itself
    ],
)
def test_eligibility_valid_edges_sql_and_python_agree(db, validated_on, entered, valid):
    at = dt.date(2025, 8, 31)
    validated_at = dt.datetime.combine(validated_on, dt.time(9, 0), dt.UTC)
    first_entry = dt.date(2024, 2, 1) if entered else None
    assert is_eligibility_valid(validated_at, None, first_entry, at, 6) is valid
    with db.session() as s:
        p = f.participant(s, first_entry_date=first_entry)
        s.add(Eligibility(participant_id=p.id, criterion="deld", validated_at=validated_at))
        s.flush()
        from storage.models import Participant

        sql = s.scalar(select(Participant.id).where(
            Participant.id == p.id,
            eligibility_valid(Participant.id, Participant.first_entry_date, at, 6)))
        assert (sql is not None) is valid


def test_revoked_or_unvalidated_eligibility_is_never_valid(db):
    now = dt.datetime(2025, 8, 1, tzinfo=dt.UTC)
    assert not is_eligibility_valid(None, None, dt.date(2025, 1, 1), dt.date(2025, 8, 2), 6)
    assert not is_eligibility_valid(now, now, dt.date(2025, 1, 1), dt.date(2025, 8, 2), 6)
    with db.session() as s:
        p = f.participant(s, first_entry_date=dt.date(2025, 1, 1))
        s.add(Eligibility(participant_id=p.id, criterion="deld", validated_at=now, revoked_at=now))
        s.flush()
        from storage.models import Participant

        assert s.scalar(select(Participant.id).where(
            eligibility_valid(Participant.id, Participant.first_entry_date,
                              dt.date(2025, 8, 2), 6))) is None
