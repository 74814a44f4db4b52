"""Bilans: the figures the agency reports to donneurs d'ordre (seed art. 5 and annex §2B).

Public API (stable; the bot, the mail sender and the scheduler call it):

* :func:`annual_figures` — annual bilan of a donneur over a period;
* :func:`market_figures` — point d'étape of a market at a date, or its bilan final synthétique;
* :func:`territory_figures` — the whole territory across donneurs;
* :func:`find_donneur` / :func:`find_market` — lookup by name/reference with close matches.

Figures are computed with a fixed number of SQL aggregates (see :mod:`clauses.bilan.queries`) and
returned as plain dataclasses (:mod:`clauses.bilan.figures`); rendering lives in ``reports/``.
"""

from clauses.bilan.compute import annual_figures, market_figures, territory_figures
from clauses.bilan.errors import (
    BilanError,
    InvalidPeriodError,
    UnknownDonneurError,
    UnknownMarketError,
)
from clauses.bilan.figures import (
    AGE_BANDS,
    BilanFigures,
    BilanKind,
    CompanyLine,
    ContractTypeRow,
    CountRow,
    DonneurLine,
    EngagementLine,
    ExitCategoryRow,
    MarketCounts,
    MarketLine,
    MeansRow,
    MonthHours,
    Note,
    Period,
    QpvHours,
    RelationStatus,
    Typology,
)
from clauses.bilan.lookup import find_donneur, find_market

__all__ = [
    "AGE_BANDS",
    "BilanError",
    "BilanFigures",
    "BilanKind",
    "CompanyLine",
    "ContractTypeRow",
    "CountRow",
    "DonneurLine",
    "EngagementLine",
    "ExitCategoryRow",
    "InvalidPeriodError",
    "MarketCounts",
    "MarketLine",
    "MeansRow",
    "MonthHours",
    "Note",
    "Period",
    "QpvHours",
    "RelationStatus",
    "Typology",
    "UnknownDonneurError",
    "UnknownMarketError",
    "annual_figures",
    "find_donneur",
    "find_market",
    "market_figures",
    "territory_figures",
]
