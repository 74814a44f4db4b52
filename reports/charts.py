"""Charts of the bilans as PNG bytes (matplotlib, Agg, no pyplot).

``matplotlib.figure.Figure`` is drawn on an explicit Agg canvas instead of going through pyplot: no
global backend switch, no GUI, safe in the service's threads. Hours are charted (months,
companies), and the typology (age, gender, QPV, status at entry) from the *view's* tables, after
the audience's small-cell rule: a masked count gets no bar, only its « < 3 » label, so a chart
never shows what the table hides.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from clauses.bilan.figures import BilanFigures
from clauses.formatting import MONTHS_FR, fr_hours, fr_number

if TYPE_CHECKING:
    from reports.view import ReportView, Table

BLUE = "#1f4e79"
LIGHT = "#c9d6e3"
DPI = 144
MAX_COMPANIES = 12
MAX_MONTHS = 48


@dataclass(frozen=True)
class Chart:
    cid: str
    """Content-ID (without angle brackets) used by the e-mail; also a stable name."""
    title: str
    alt: str
    png: bytes


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def _fr_axis(value: float, _pos: int) -> str:
    return fr_number(Decimal(str(round(value, 2))))


MONTHS_SHORT_FR = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.",
                   "oct.", "nov.", "déc.")


def _month_label(month: dt.date, multi_year: bool) -> str:
    short = MONTHS_SHORT_FR[month.month - 1]
    return f"{short}\n{month.year}" if multi_year else short


def _month_range(first: dt.date, last: dt.date) -> list[dt.date]:
    out: list[dt.date] = []
    month = first.replace(day=1)
    while month <= last and len(out) < MAX_MONTHS:
        out.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return out


def hours_by_month_chart(figures: BilanFigures) -> Chart | None:
    months = figures.hours_by_month
    if not months:
        return None
    # every month of the period, zeros included: a gap in the declarations must be visible
    axis = _month_range(min(figures.period.start, months[0].month),
                        max(figures.period.end, months[-1].month))
    if len(axis) >= MAX_MONTHS:
        axis = [m.month for m in months]
    hours = {m.month: m.counted_hours for m in months}
    multi_year = len({m.year for m in axis}) > 1
    fig = Figure(figsize=(6.4, 3.0))
    ax = fig.subplots()
    xs = range(len(axis))
    ax.bar(xs, [float(hours.get(m, 0)) for m in axis], color=BLUE)
    step = 1 if len(axis) <= 14 else 3
    ax.set_xticks(list(xs)[::step], [_month_label(m, multi_year) for m in axis][::step],
                  fontsize=8)
    ax.yaxis.set_major_formatter(FuncFormatter(_fr_axis))
    ax.set_ylabel("heures")
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title("Heures réalisées par mois", fontsize=11)
    peak = max(months, key=lambda m: m.counted_hours)
    alt = (f"Histogramme des heures réalisées par mois : {len(months)} mois, total "
           f"{fr_hours(figures.hours_counted)}, maximum {fr_hours(peak.counted_hours)} en "
           f"{MONTHS_FR[peak.month.month - 1]} {peak.month.year}.")
    return Chart("heures-par-mois", "Heures réalisées par mois", alt, _png(fig))


def companies_chart(figures: BilanFigures) -> Chart | None:
    companies = [c for c in figures.companies if c.hours_owed or c.hours_to_date]
    if not companies:
        return None
    companies = sorted(companies, key=lambda c: -c.hours_owed)[:MAX_COMPANIES]
    companies.reverse()  # largest at the top of a horizontal bar chart
    fig = Figure(figsize=(6.4, 1.6 + 0.45 * len(companies)))
    ax = fig.subplots()
    ys = range(len(companies))
    ax.barh(ys, [float(c.hours_owed) for c in companies], color=LIGHT, label="Heures dues")
    ax.barh(ys, [float(c.hours_to_date) for c in companies], height=0.45, color=BLUE,
            label="Heures réalisées (cumul)")
    ax.set_yticks(list(ys), [c.name[:28] for c in companies], fontsize=8)
    ax.xaxis.set_major_formatter(FuncFormatter(_fr_axis))
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2,
              frameon=False)
    ax.set_title("Heures réalisées et dues par entreprise", fontsize=11)
    alt = "Heures réalisées / dues par entreprise : " + " ; ".join(
        f"{c.name} {fr_hours(c.hours_to_date)} / {fr_hours(c.hours_owed)}"
        for c in reversed(companies))
    return Chart("heures-par-entreprise", "Heures réalisées et dues par entreprise", alt,
                 _png(fig))


TYPOLOGY_CHARTS = {"Âge": "typologie-age", "Genre": "typologie-genre",
                   "QPV": "typologie-qpv", "Statut à l'entrée": "typologie-statut"}
"""View table key -> chart Content-ID (the chart is shown above that table)."""


def typology_chart(table: Table, cid: str) -> Chart | None:
    """Persons by category, as the table shows them (masked cells: label, no bar)."""
    rows = [r for r in table.rows if r[1].value or r[1].masked]
    if not rows:
        return None
    rows = list(reversed(rows))  # first category at the top
    fig = Figure(figsize=(6.4, 0.9 + 0.38 * len(rows)))
    ax = fig.subplots()
    ys = range(len(rows))
    values = [float(r[1].value) if isinstance(r[1].value, int | Decimal) and not r[1].masked
              else 0.0 for r in rows]
    ax.barh(ys, values, color=BLUE, height=0.6)
    ax.set_yticks(list(ys), [str(r[0].value)[:38] for r in rows], fontsize=8)
    peak = max(values) or 1.0
    for y, r, v in zip(ys, rows, values, strict=True):
        ax.text(v + peak * 0.01, y, r[1].text, va="center", fontsize=8)
    ax.set_xlim(0, peak * 1.15)
    ax.xaxis.set_major_formatter(FuncFormatter(_fr_axis))
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title(table.title, fontsize=11)
    alt = f"{table.title} : " + " ; ".join(f"{r[0].value} {r[1].text}" for r in reversed(rows))
    return Chart(cid, table.title, alt, _png(fig))


def build_charts(figures: BilanFigures, view: ReportView | None = None) -> list[Chart]:
    charts = [hours_by_month_chart(figures), companies_chart(figures)]
    if view is not None:
        for table in view.tables:
            cid = TYPOLOGY_CHARTS.get(table.key)
            if cid:
                charts.append(typology_chart(table, cid))
    return [c for c in charts if c]
