"""Time as a dependency, so a whole year can be simulated day by day in tests."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


class Clock:
    """The real clock; dates are Paris dates because deadlines are French business dates."""

    tz = PARIS

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def today(self) -> dt.date:
        return self.now().astimezone(self.tz).date()


class FixedClock(Clock):
    """A clock the tests move by hand."""

    def __init__(self, at: dt.datetime) -> None:
        if at.tzinfo is None:
            at = at.replace(tzinfo=PARIS)
        self._at = at.astimezone(dt.UTC)

    def now(self) -> dt.datetime:
        return self._at

    def set(self, at: dt.datetime) -> None:
        if at.tzinfo is None:
            at = at.replace(tzinfo=PARIS)
        self._at = at.astimezone(dt.UTC)

    def advance(self, **kwargs: float) -> None:
        self._at += dt.timedelta(**kwargs)
