"""Charts of the bilans as PNG bytes, drawn with Pillow.

Why Pillow rather than matplotlib: the service's whole process tree must stay under 180 MB
(issue 20), and the renderer that draws these charts paid 54 MB just to import matplotlib and
numpy; Pillow (already a dependency) costs about 2 MB. Three kinds of bar charts are drawn by one
helper, :func:`_bar_chart` (axes, ticks, bars, labels, legend): hours by month (vertical bars),
companies' hours due against done and the typology (horizontal bars). Hours are charted (months,
companies), and the typology (age, gender, QPV, status at entry) from the *view's* tables, after
the audience's small-cell rule: a masked count gets no bar, only its « < 3 » label, so a chart
never shows what the table hides.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont

from clauses.bilan.figures import BilanFigures
from clauses.formatting import MONTHS_FR, fr_hours, fr_number

if TYPE_CHECKING:
    from reports.view import ReportView, Table

BLUE = "#1f4e79"
LIGHT = "#c9d6e3"
GRID = "#e3e7ec"
INK = "#1a1a1a"
WIDTH = 920
"""Pixels: what the matplotlib charts measured (6.4 in at 144 dpi), so e-mails and PDFs keep
their layout."""
MAX_COMPANIES = 12
MAX_MONTHS = 48
COMPANY_CHARS = 28
CATEGORY_CHARS = 38

FONT_FILE = "DejaVuSans.ttf"
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu",
             "/usr/local/share/fonts")
"""Where scripts/system-deps.sh's ``fonts-dejavu-core`` puts the font (Debian, then others)."""
TITLE_PX, TICK_PX, LABEL_PX = 22, 18, 16

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass(frozen=True)
class Chart:
    cid: str
    """Content-ID (without angle brackets) used by the e-mail; also a stable name."""
    title: str
    alt: str
    png: bytes


@functools.lru_cache(maxsize=8)
def _font(size: int) -> Font:
    """DejaVu Sans (accents, the narrow no-break space of « 1 234 »); PIL's own font if absent.

    The basic layout engine: no libraqm/HarfBuzz loaded for left-to-right French labels."""
    for candidate in [f"{d}/{FONT_FILE}" for d in FONT_DIRS] + [FONT_FILE]:
        try:
            return ImageFont.truetype(candidate, size, layout_engine=ImageFont.Layout.BASIC)
        except OSError:
            continue
    return ImageFont.load_default(size)


def _size(text: str, font: Font) -> tuple[int, int]:
    """Width and height of one line of text (height from the font, not the letters, so that
    labels with and without descenders line up)."""
    left, _, right, _ = font.getbbox(text)
    _, top, _, bottom = font.getbbox("Hgé")
    return int(right - left), int(bottom - top)


def _text(draw: ImageDraw.ImageDraw, x: float, y: float, text: str, font: Font, *,
          h: str = "l", v: str = "t", fill: str = INK) -> None:
    """Draw ``text`` with (x, y) at its left/middle/right (``h``) and top/middle (``v``);
    several lines (``\\n``) are stacked and each is aligned the same way."""
    lines = text.split("\n")
    line_h = _size("H", font)[1]
    total = line_h * len(lines) + 2 * (len(lines) - 1)
    top = y - total / 2 if v == "m" else y
    _, y_off = font.getbbox("Hgé")[:2]
    for i, line in enumerate(lines):
        width = _size(line, font)[0]
        x0 = x - width / 2 if h == "m" else x - width if h == "r" else x
        x_off = font.getbbox(line)[0]
        draw.text((round(x0 - x_off), round(top + i * (line_h + 2) - y_off)), line, font=font,
                  fill=fill)


def _ticks(peak: float) -> tuple[float, list[float]]:
    """Round tick values from 0 to at least ``peak`` (steps of 1, 2, 2.5 or 5 × 10ⁿ, never
    under 1: hours and persons have no useful fraction on an axis)."""
    peak = max(peak, 1.0)
    raw = peak / 6
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(s * magnitude for s in (1, 2, 2.5, 5, 10) if s * magnitude >= raw)
    step = max(step, 1.0)
    count = math.ceil(peak / step - 1e-9)
    return step * count, [step * i for i in range(count + 1)]


def _axis_number(value: float) -> str:
    return fr_number(Decimal(str(round(value, 2))))


def _shorten(name: str, limit: int) -> str:
    return name if len(name) <= limit else name[:limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class _Series:
    values: Sequence[float]
    colour: str
    thickness: float
    """Share of a category's slot the bar takes (a thinner bar drawn over a wider one)."""
    label: str | None = None
    """Legend text; None: no legend entry."""


def _bar_chart(title: str, categories: Sequence[str], series: Sequence[_Series], *,
               height: int, horizontal: bool, value_title: str | None = None,
               notes: Sequence[str] | None = None, label_step: int = 1,
               headroom: float = 1.0) -> bytes:
    """One bar chart as PNG bytes: the title, a value axis with round French ticks and light
    grid lines, the categories (left to right, or top to bottom when ``horizontal``), one bar
    per series and category, ``notes`` written after each category's bars (horizontal only),
    a legend of the labelled series below. Only every ``label_step``-th category is named."""
    img = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(img)
    title_font, tick_font, label_font = _font(TITLE_PX), _font(TICK_PX), _font(LABEL_PX)
    _text(draw, WIDTH / 2, 10, title, title_font, h="m")
    peak = max((v for s in series for v in s.values), default=0.0)
    top_value, ticks = _ticks(peak * headroom)
    tick_texts = [_axis_number(t) for t in ticks]
    tick_h = _size("0", tick_font)[1]
    legend = [s for s in series if s.label]
    plot_top = 10 + _size(title, title_font)[1] + 20
    if horizontal:
        names = list(categories)
        left = 14 + max(_size(n, label_font)[0] for n in names) + 12
        right = WIDTH - 10 - _size(tick_texts[-1], tick_font)[0] // 2
        bottom = height - 14 - tick_h - 8 - (_size("H", label_font)[1] + 22 if legend else 0)
        span = right - left

        def place(value: float) -> float:
            return left + span * value / top_value

        for tick, text in zip(ticks, tick_texts, strict=True):
            x = place(tick)
            draw.line([(x, plot_top), (x, bottom)], fill=GRID, width=1)
            draw.line([(x, bottom), (x, bottom + 5)], fill=INK, width=1)
            _text(draw, x, bottom + 8, text, tick_font, h="m")
        slot = (bottom - plot_top) / len(categories)
        for i, name in enumerate(names):
            middle = plot_top + slot * (i + 0.5)
            if i % label_step == 0:
                _text(draw, left - 10, middle, name, label_font, h="r", v="m")
            end = left
            for s in series:
                half = slot * s.thickness / 2
                x1 = place(s.values[i])
                if x1 > left:
                    draw.rectangle([(left, round(middle - half)), (round(x1), round(middle + half))],
                                   fill=s.colour)
                end = max(end, round(x1))
            if notes:
                _text(draw, end + 6, middle, notes[i], label_font, v="m")
        draw.line([(left, plot_top), (left, bottom)], fill=INK, width=1)
        draw.line([(left, bottom), (right, bottom)], fill=INK, width=1)
    else:
        label_h = max(_size("H", label_font)[1] * (c.count("\n") + 1) + 2 * c.count("\n")
                      for c in categories)
        left = 12 + (_size(value_title, tick_font)[1] + 10 if value_title else 0)
        left += max(_size(t, tick_font)[0] for t in tick_texts) + 12
        right, bottom = WIDTH - 16, height - 12 - label_h - 10
        span = bottom - plot_top

        def place(value: float) -> float:
            return bottom - span * value / top_value

        for tick, text in zip(ticks, tick_texts, strict=True):
            y = place(tick)
            draw.line([(left, y), (right, y)], fill=GRID, width=1)
            draw.line([(left - 5, y), (left, y)], fill=INK, width=1)
            _text(draw, left - 8, y, text, tick_font, h="r", v="m")
        if value_title:  # written bottom to top along the axis
            w, h = _size(value_title, tick_font)
            label = Image.new("RGB", (w + 4, h + 4), "white")
            _text(ImageDraw.Draw(label), 2, 2, value_title, tick_font)
            turned = label.rotate(90, expand=True)
            img.paste(turned, (12, round((plot_top + bottom - turned.height) / 2)))
        slot = (right - left) / len(categories)
        for i, name in enumerate(categories):
            middle = left + slot * (i + 0.5)
            if i % label_step == 0:
                draw.line([(middle, bottom), (middle, bottom + 5)], fill=INK, width=1)
                _text(draw, middle, bottom + 8, name, label_font, h="m")
            for s in series:
                half = slot * s.thickness / 2
                y1 = place(s.values[i])
                if y1 < bottom:
                    draw.rectangle([(round(middle - half), round(y1)), (round(middle + half), bottom)],
                                   fill=s.colour)
        draw.line([(left, plot_top), (left, bottom)], fill=INK, width=1)
        draw.line([(left, bottom), (right, bottom)], fill=INK, width=1)
    if legend:  # one centred row under the axis
        widths = [34 + _size(s.label or "", label_font)[0] for s in legend]
        x = (WIDTH - sum(widths) - 28 * (len(legend) - 1)) / 2
        y = height - 12 - _size("H", label_font)[1]
        for s, w in zip(legend, widths, strict=True):
            draw.rectangle([(round(x), y + 2), (round(x) + 24, y + 14)], fill=s.colour)
            _text(draw, x + 34, y, s.label or "", label_font)
            x += w + 28
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


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
    png = _bar_chart("Heures réalisées par mois", [_month_label(m, multi_year) for m in axis],
                     [_Series([float(hours.get(m, 0)) for m in axis], BLUE, 0.8)],
                     height=430, horizontal=False, value_title="heures",
                     label_step=1 if len(axis) <= 14 else 3)
    peak = max(months, key=lambda m: m.counted_hours)
    alt = (f"Histogramme des heures réalisées par mois : {len(months)} mois, total "
           f"{fr_hours(figures.hours_counted)}, maximum {fr_hours(peak.counted_hours)} en "
           f"{MONTHS_FR[peak.month.month - 1]} {peak.month.year}.")
    return Chart("heures-par-mois", "Heures réalisées par mois", alt, png)


def companies_chart(figures: BilanFigures) -> Chart | None:
    companies = [c for c in figures.companies if c.hours_owed or c.hours_to_date]
    if not companies:
        return None
    companies = sorted(companies, key=lambda c: -c.hours_owed)[:MAX_COMPANIES]  # largest on top
    png = _bar_chart(
        "Heures réalisées et dues par entreprise",
        [_shorten(c.name, COMPANY_CHARS) for c in companies],
        [_Series([float(c.hours_owed) for c in companies], LIGHT, 0.8, "Heures dues"),
         _Series([float(c.hours_to_date) for c in companies], BLUE, 0.4,
                 "Heures réalisées (cumul)")],
        height=round(230 + 65 * len(companies)), horizontal=True)
    alt = "Heures réalisées / dues par entreprise : " + " ; ".join(
        f"{c.name} {fr_hours(c.hours_to_date)} / {fr_hours(c.hours_owed)}" for c in companies)
    return Chart("heures-par-entreprise", "Heures réalisées et dues par entreprise", alt, png)


TYPOLOGY_CHARTS = {"Âge": "typologie-age", "Genre": "typologie-genre",
                   "QPV": "typologie-qpv", "Statut à l'entrée": "typologie-statut"}
"""View table key -> chart Content-ID (the chart is shown above that table)."""


def typology_chart(table: Table, cid: str) -> Chart | None:
    """Persons by category, as the table shows them (masked cells: label, no bar)."""
    rows = [r for r in table.rows if r[1].value or r[1].masked]
    if not rows:
        return None
    values = [float(r[1].value) if isinstance(r[1].value, int | Decimal) and not r[1].masked
              else 0.0 for r in rows]
    png = _bar_chart(table.title, [_shorten(str(r[0].value), CATEGORY_CHARS) for r in rows],
                     [_Series(values, BLUE, 0.6)], height=round(130 + 55 * len(rows)),
                     horizontal=True, notes=[r[1].text for r in rows], headroom=1.15)
    alt = f"{table.title} : " + " ; ".join(f"{r[0].value} {r[1].text}" for r in rows)
    return Chart(cid, table.title, alt, png)


def build_charts(figures: BilanFigures, view: ReportView | None = None) -> list[Chart]:
    charts = [hours_by_month_chart(figures), companies_chart(figures)]
    if view is not None:
        for table in view.tables:
            cid = TYPOLOGY_CHARTS.get(table.key)
            if cid:
                charts.append(typology_chart(table, cid))
    return [c for c in charts if c]
