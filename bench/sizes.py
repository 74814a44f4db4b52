"""The sizes the benchmark knows, as the arrival rates of a stationary synthetic territory.

Why rates and not counts: a territory is a flow. Markets are notified and end, persons enter and
leave their path, so "600 markets a year" means the markets *in scope of one year's bilan*, not
the rows in the table. The generator (:mod:`bench.generator`) draws monthly arrivals with these
rates; the constants below were tuned so that one steady-state calendar year of ``territory``
holds about 2,000 persons, 600 markets, 1,000 companies, 24,000 monthly declarations and 800,000
insertion hours (the order of the Lyon Métropole), which ``python -m bench --generate-only``
prints back for checking.

``history_years`` is how many years of declarations the database holds before "today".
Three years is the least that makes the last year stationary (markets last up to 30 months and
a person's path up to 24), which is also what lets the scheduler measurement compare a database
with ten times more history and exactly the same recent activity (see ``bench.measures.scheduler``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Size:
    name: str
    scale: float
    """Multiplier of every flow (persons, markets) and every pool (companies, donneurs)."""
    history_years: int
    markets_per_month: float = 21.0
    persons_per_month: float = 70.0
    companies: int = 1000
    donneurs: int = 24
    facilitators: int = 12
    prescribers: int = 18

    def scaled(self, value: float) -> int:
        return max(1, round(value * self.scale))

    def with_history(self, years: int) -> Size:
        return replace(self, name=f"{self.name}-{years}y", history_years=years)


TINY = Size("tiny", scale=0.02, history_years=3)
"""Smoke-test size: a few hundred declarations, seconds to generate on either backend."""

SMALL = Size("small", scale=0.1, history_years=3)
"""A tenth of a territory: quick local iterations on the harness."""

TERRITORY = Size("territory", scale=1.0, history_years=3)
"""A metropolis: ~2,000 persons, ~600 markets, 1,000 companies, ~24,000 declarations a year."""

NATIONAL = Size("national", scale=20.0, history_years=10)
"""Twenty territories with ten years of history: about 5 million declarations."""

SIZES: dict[str, Size] = {s.name: s for s in (TINY, SMALL, TERRITORY, NATIONAL)}


def size_named(name: str) -> Size:
    try:
        return SIZES[name]
    except KeyError:
        raise ValueError(f"unknown size {name!r}; choose among {', '.join(SIZES)}") from None
