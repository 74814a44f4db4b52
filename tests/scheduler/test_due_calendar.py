"""The calendar rules of what is due: business days, reminder dates, lateness cut-off."""

from __future__ import annotations

import datetime as dt

import pytest

from clauses.context import Policy
from clauses.due import (
    DueRules,
    annual_bilan_day,
    convention_end,
    first_reminder_day,
    last_due_month,
    progress_cutoff,
)

D = dt.date


def test_sundays_and_french_public_holidays_move_to_the_next_business_day():
    cal = DueRules().calendar()
    assert cal.on_or_after(D(2025, 10, 5)) == D(2025, 10, 6)  # Sunday -> Monday
    assert cal.on_or_after(D(2025, 11, 1)) == D(2025, 11, 3)  # Toussaint (Sat) + Sunday
    assert cal.on_or_after(D(2025, 8, 15)) == D(2025, 8, 16)  # Assomption (Fri) -> Saturday
    assert cal.on_or_after(D(2026, 1, 1)) == D(2026, 1, 2)
    assert cal.on_or_after(D(2025, 6, 9)) == D(2025, 6, 10)  # Whit Monday
    assert cal.on_or_after(D(2025, 4, 5)) == D(2025, 4, 5)  # a Saturday is open by default
    assert cal.on_or_before(D(2025, 1, 19)) == D(2025, 1, 18)


def test_saturday_can_be_closed_and_alsace_moselle_has_its_own_holidays():
    closed = DueRules(saturday_is_business_day=False).calendar()
    assert closed.on_or_after(D(2025, 4, 5)) == D(2025, 4, 7)
    assert closed.on_or_after(D(2025, 8, 15)) == D(2025, 8, 18)
    assert DueRules().calendar().is_business_day(D(2025, 12, 26))
    assert not DueRules(holiday_subdivision="57").calendar().is_business_day(D(2025, 12, 26))


def test_first_reminder_is_on_the_configured_day_of_the_next_month_or_after():
    rules = DueRules(reminder_day=5)
    assert first_reminder_day(D(2025, 9, 1), rules) == D(2025, 10, 6)
    assert first_reminder_day(D(2025, 1, 17), rules) == D(2025, 2, 5)
    assert first_reminder_day(D(2025, 4, 1), DueRules(reminder_day=1)) == D(2025, 5, 2)  # 1 May


def test_lateness_is_judged_at_the_end_of_the_last_month_whose_declarations_are_due():
    rules = DueRules(reminder_day=5)
    assert last_due_month(D(2025, 3, 4), rules) == D(2025, 1, 1)
    assert last_due_month(D(2025, 3, 5), rules) == D(2025, 2, 1)
    assert progress_cutoff(D(2025, 3, 5), rules) == D(2025, 2, 28)
    assert progress_cutoff(D(2025, 10, 5), rules) == D(2025, 8, 31)  # the 5th was a Sunday


def test_annual_bilan_day_and_convention_end():
    assert annual_bilan_day(2025, DueRules()) == D(2026, 1, 31)
    assert annual_bilan_day(2025, DueRules(annual_bilan_date="02-01")) == D(2026, 2, 2)
    assert convention_end(D(2023, 3, 1), 36) == D(2026, 2, 28)
    assert convention_end(D(2024, 1, 31), 1) == D(2024, 2, 28)


def test_rules_come_from_the_policy_and_bad_values_are_refused():
    rules = DueRules.from_policy(Policy(reminder_day=10, second_reminder_after_days=3,
                                        annual_bilan_date="02-15", annual_bilan_auto=True))
    assert (rules.reminder_day, rules.second_reminder_after_days) == (10, 3)
    assert (rules.bilan_month_day, rules.annual_bilan_auto) == ((2, 15), True)
    for bad in ({"reminder_day": 31}, {"second_reminder_after_days": 0},
                {"annual_bilan_date": "31-01"}, {"annual_bilan_date": "02-29"}):
        with pytest.raises(ValueError):
            DueRules(**bad)
