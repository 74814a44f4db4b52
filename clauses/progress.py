"""Progress of an engagement: hours done against hours owed, and against the calendar.

Expected hours are pro rata temporis over the lot's execution period:
``expected = owed × (at − start) / (end − start)`` in days, 0 on or before ``start``, ``owed`` on or
after ``end`` (rounded half up to the hundredth; monotonic in ``at``, always within [0, owed]).

Status (tolerances from the rulebook's ``progress`` section), checked in this order:

* ``solde``: done ≥ owed (the clause is fulfilled; also when nothing is owed);
* ``en_retard``: the period is over (``at`` > ``end``) with hours still owed, or
  done < expected × (1 − ``late_tolerance``);
* ``a_risque``: done < expected × (1 − ``at_risk_tolerance``): behind the calendar, but within
  the late tolerance (a warning sign before lateness);
* ``a_jour``: otherwise (including before the start, and when the period is unknown).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from clauses.catalog import LabelledEnum
from clauses.formatting import SPACE, fr_hours, fr_percent, to_decimal
from clauses.rulebook import Rulebook

_HUNDREDTH = Decimal("0.01")
ZERO = Decimal(0)


class ProgressStatus(LabelledEnum):
    A_JOUR = ("a_jour", "à jour", "on track")
    A_RISQUE = ("a_risque", "à risque", "at risk")
    EN_RETARD = ("en_retard", "en retard", "late")
    SOLDE = ("solde", "soldé", "fulfilled")


@dataclass(frozen=True, slots=True)
class Progress:
    owed: Decimal
    done: Decimal
    expected: Decimal
    ratio: Decimal
    status: ProgressStatus

    @property
    def label_fr(self) -> str:
        return self.status.label_fr

    @property
    def remaining(self) -> Decimal:
        """Hours still owed (0 once soldé)."""
        return max(self.owed - self.done, ZERO)

    @property
    def summary_fr(self) -> str:
        """E.g. "520 h réalisées sur 1 000 h (attendu à date : 600 h) — à risque"."""
        return (
            f"{fr_hours(self.done)} réalisées sur {fr_hours(self.owed)} "
            f"(attendu à date : {fr_hours(self.expected)}) — {self.status.label_fr}"
        )


def expected_hours(owed: Decimal, start: dt.date, end: dt.date, at: dt.date) -> Decimal:
    """Hours that should be done by ``at`` if the clause progressed evenly from start to end."""
    if at <= start:
        return ZERO
    if at >= end:
        return owed
    share = Decimal((at - start).days) / Decimal((end - start).days)
    return min(max((owed * share).quantize(_HUNDREDTH, rounding=ROUND_HALF_UP), ZERO), owed)


def engagement_progress(
    owed: Decimal | int | str,
    done: Decimal | int | str,
    start: dt.date | None,
    end: dt.date | None,
    at: dt.date,
    rulebook: Rulebook,
) -> Progress:
    """Where an engagement stands on ``at`` (see the module docstring for the rules).

    An unknown period (``start`` or ``end`` is None, e.g. dates not yet entered) puts no
    calendar pressure: expected is 0 and the status is ``solde`` or ``a_jour``.
    """
    owed_d = to_decimal(owed)
    done_d = to_decimal(done)
    if start is not None and end is not None and end < start:
        start, end = end, start  # a swapped period is a data-entry slip, not a reason to crash
    if start is None or end is None:
        expected = ZERO
        over = False
    else:
        expected = expected_hours(owed_d, start, end, at)
        over = at > end
    ratio = done_d / owed_d if owed_d > 0 else Decimal(1)
    rules = rulebook.progress
    if done_d >= owed_d:
        status = ProgressStatus.SOLDE
    elif over or done_d < expected * (1 - rules.late_tolerance):
        status = ProgressStatus.EN_RETARD
    elif done_d < expected * (1 - rules.at_risk_tolerance):
        status = ProgressStatus.A_RISQUE
    else:
        status = ProgressStatus.A_JOUR
    return Progress(owed=owed_d, done=done_d, expected=expected, ratio=ratio, status=status)


def progress_bar(done: Decimal | int | str, owed: Decimal | int | str, width: int = 10) -> str:
    """Text bar for chat messages: ``progress_bar(52, 100) == "▓▓▓▓▓░░░░░ 52 %"``.

    The bar fills by whole cells (rounded down, full only when soldé); the percentage is rounded
    half up and may exceed 100 % when more than owed was done.
    """
    done_d = to_decimal(done)
    owed_d = to_decimal(owed)
    ratio = done_d / owed_d if owed_d > 0 else Decimal(1)
    ratio = max(ratio, ZERO)
    filled = int((min(ratio, Decimal(1)) * width).to_integral_value(rounding=ROUND_FLOOR))
    percent = fr_percent(ratio, 0)
    return f"{'▓' * filled}{'░' * (width - filled)}{SPACE}{percent}"
