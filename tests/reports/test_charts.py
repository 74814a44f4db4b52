"""The bilan charts drawn with Pillow (reports.charts).

Why these tests: the charts moved from matplotlib to Pillow to keep the renderer inside the
service's memory budget (issue 20). Each chart must still decode as a PNG of the width the
e-mails and PDFs are laid out for, draw one bar per non-zero value (none for a masked count),
survive the edges (one month, one company, zero hours, a 60-character name, a multi-year
period), and the renderer process must hold neither numpy nor matplotlib after drawing them.
Unit tests of the drawing use plain stand-ins for the figures; the journeys that reach these
charts through e-mail and PDF are in test_bilan_journey.py and test_rendering.py.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from PIL import Image, ImageFont

from clauses.bilan import annual_figures
from reports.charts import (
    BLUE,
    WIDTH,
    Chart,
    _ticks,
    build_charts,
    companies_chart,
    hours_by_month_chart,
    typology_chart,
)
from reports.isolated import RenderRequest
from reports.renderer import Renderer
from reports.view import Cell, Column, Fmt, Table
from tests.reports import territory as T

BLUE_RGB = tuple(int(BLUE[i:i + 2], 16) for i in (1, 3, 5))


def _figures(months: dict[dt.date, int], companies: list[tuple[str, int, int]],
             start: dt.date = dt.date(2025, 1, 1), end: dt.date = dt.date(2025, 12, 31)) -> Any:
    """What the charts read of a BilanFigures, nothing more."""
    return SimpleNamespace(
        period=SimpleNamespace(start=start, end=end),
        hours_by_month=[SimpleNamespace(month=m, counted_hours=Decimal(h))
                        for m, h in sorted(months.items())],
        hours_counted=Decimal(sum(months.values())),
        companies=[SimpleNamespace(name=n, hours_owed=Decimal(o), hours_to_date=Decimal(d))
                   for n, o, d in companies])


def _image(chart: Chart) -> Image.Image:
    image = Image.open(io.BytesIO(chart.png))
    image.load()  # decodes every row: a truncated PNG fails here
    assert image.format == "PNG" and image.mode == "RGB"
    return image


def _runs(flags: list[bool]) -> int:
    """How many separate stretches of True: bars seen along one direction."""
    return sum(1 for i, f in enumerate(flags) if f and (i == 0 or not flags[i - 1]))


def _bars_across(image: Image.Image) -> int:
    """Vertical bars: runs of columns holding the bar colour."""
    px = image.load()
    assert px is not None
    return _runs([any(px[x, y] == BLUE_RGB for y in range(image.height))
                  for x in range(image.width)])


def _bars_down(image: Image.Image) -> int:
    """Horizontal bars (and a legend swatch): runs of rows holding the bar colour."""
    px = image.load()
    assert px is not None
    return _runs([any(px[x, y] == BLUE_RGB for x in range(image.width))
                  for y in range(image.height)])


def test_hours_by_month_one_bar_per_month_with_hours_and_a_gap_for_the_empty_one():
    months = {dt.date(2025, m, 1): 100 * m for m in range(1, 13) if m != 4}
    chart = hours_by_month_chart(_figures(months, []))
    assert chart is not None and chart.title == "Heures réalisées par mois"
    image = _image(chart)
    assert image.size == (WIDTH, 430)
    assert _bars_across(image) == 11  # April declared nothing: no bar, the month stays on the axis
    assert "11 mois" in chart.alt and "total 7 400 h" in chart.alt
    assert "maximum 1 200 h en décembre 2025" in chart.alt


def test_one_month_of_a_period_ending_on_the_first_draws_the_whole_period():
    """A period from 1 January to 1 March covers three months: the one declared is drawn."""
    chart = hours_by_month_chart(_figures({dt.date(2025, 2, 1): 35}, [],
                                          end=dt.date(2025, 3, 1)))
    assert chart is not None and _bars_across(_image(chart)) == 1
    assert "1 mois" in chart.alt and "février 2025" in chart.alt


def test_zero_hours_render_an_empty_axis_without_error():
    chart = hours_by_month_chart(_figures({dt.date(2025, 6, 1): 0}, []))
    assert chart is not None
    assert _bars_across(_image(chart)) == 0 and "total 0 h" in chart.alt


def test_a_multi_year_period_names_every_third_month_and_draws_them_all():
    months = {dt.date(2024 + (m - 1) // 12, (m - 1) % 12 + 1, 1): 10 for m in range(1, 19)}
    chart = hours_by_month_chart(_figures(months, [], start=dt.date(2024, 1, 1),
                                          end=dt.date(2025, 6, 30)))
    assert chart is not None and _bars_across(_image(chart)) == 18


def test_one_company_with_nothing_done_yet_and_a_60_character_name():
    name = "Société coopérative d'intérêt collectif du bâtiment lyonnais"
    assert len(name) == 60
    chart = companies_chart(_figures({}, [(name, 1200, 0), ("Sans heures", 0, 0)]))
    assert chart is not None and chart.title == "Heures réalisées et dues par entreprise"
    image = _image(chart)
    assert image.size == (WIDTH, 230 + 65)  # the company without hours is left out
    # nothing done: no dark bar, only the legend's swatch of « Heures réalisées (cumul) »
    assert _bars_down(image) == 1
    assert chart.alt == f"Heures réalisées / dues par entreprise : {name} 0 h / 1 200 h"


def test_companies_largest_obligation_first_at_most_twelve():
    companies = [(f"Entreprise {i:02d}", 100 * i, 50 * i) for i in range(1, 16)]
    chart = companies_chart(_figures({}, companies))
    assert chart is not None
    image = _image(chart)
    assert image.size == (WIDTH, 230 + 65 * 12)
    assert _bars_down(image) == 12 + 1  # twelve done bars and the legend swatch
    listed = chart.alt.split(" : ", 1)[1].split(" ; ")
    assert listed[0] == "Entreprise 15 750 h / 1 500 h" and len(listed) == 12
    assert listed[-1] == "Entreprise 04 200 h / 400 h"


def test_no_company_with_hours_means_no_chart():
    assert companies_chart(_figures({}, [("Rien", 0, 0)])) is None
    assert hours_by_month_chart(_figures({}, [])) is None


def test_typology_masked_count_has_its_label_and_no_bar():
    table = Table("Genre", "Répartition par genre", [Column("Genre"), Column("Personnes", Fmt.INT)],
                  [[Cell("Femmes"), Cell(12, Fmt.INT)],
                   [Cell("Hommes"), Cell(2, Fmt.INT, masked_text="< 3")],
                   [Cell("Non renseigné"), Cell(1234, Fmt.INT)],
                   [Cell("Autre"), Cell(0, Fmt.INT)]])
    chart = typology_chart(table, "typologie-genre")
    assert chart is not None and chart.cid == "typologie-genre"
    image = _image(chart)
    assert image.size == (WIDTH, 130 + 55 * 3)  # the zero row is left out
    assert _bars_down(image) == 2  # Femmes and Non renseigné; Hommes only says « < 3 »
    assert chart.alt == "Répartition par genre : Femmes 12 ; Hommes < 3 ; Non renseigné 1 234"


def test_axis_ticks_are_round_and_cover_the_peak():
    assert _ticks(0) == (1.0, [0.0, 1.0])
    assert _ticks(3567) == (4000.0, [0.0, 1000.0, 2000.0, 3000.0, 4000.0])
    assert _ticks(1234 * 1.15)[0] >= 1234 * 1.15
    top, ticks = _ticks(4)
    assert top == 4 and all(t == int(t) for t in ticks)  # persons: no fractional tick


def test_the_territory_bilan_charts_decode_at_the_layout_width(db, rulebook):
    with db.session() as s:
        built = T.build(s)
    with db.session() as s:
        figures = annual_figures(s, built.donneurs["givors"], dt.date(2025, 1, 1),
                                 dt.date(2025, 12, 31), rulebook)
    from reports.view import build_view

    charts = build_charts(figures, build_view(figures, "interne"))
    assert {"heures-par-mois", "heures-par-entreprise"} <= {c.cid for c in charts}
    assert all(_image(c).width == WIDTH for c in charts)


def _mapped_files(pid: int) -> str:
    with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as f:
        return f.read()


def test_the_renderer_draws_charts_without_numpy_or_matplotlib(db, rulebook):
    """The renderer process, after a bilan e-mail with charts: Pillow's library is mapped,
    numpy's and matplotlib's are not (a C extension, once imported, stays mapped)."""
    with db.session() as s:
        built = T.build(s)
    with db.session() as s:
        figures = annual_figures(s, built.donneurs["givors"], dt.date(2025, 1, 1),
                                 dt.date(2025, 12, 31), rulebook)
    renderer = Renderer()
    try:
        rendered = renderer.render(RenderRequest(figures, ("html",), "interne"))
        assert rendered.email is not None and rendered.email.images
        assert renderer.pid is not None
        maps = _mapped_files(renderer.pid)
        assert "PIL/_imaging" in maps
        assert "numpy" not in maps and "matplotlib" not in maps
    finally:
        renderer.shutdown()


def test_the_charts_write_with_the_system_dejavu_font():
    """The font scripts/system-deps.sh installs: accents and the « 1 234 » narrow space."""
    import reports.charts as charts

    font = charts._font(16)
    assert isinstance(font, ImageFont.FreeTypeFont) and font.getname() == ("DejaVu Sans", "Book")


def test_without_the_dejavu_font_the_charts_use_pils_own(monkeypatch):
    """A system without fonts-dejavu-core (scripts/system-deps.sh installs it) still gets charts."""
    import reports.charts as charts

    monkeypatch.setattr(charts, "FONT_FILE", "absent-font.ttf")
    monkeypatch.setattr(charts, "FONT_DIRS", ())
    charts._font.cache_clear()
    try:
        font = charts._font(16)
        assert isinstance(font, ImageFont.FreeTypeFont) and "DejaVu" not in font.getname()[0]
        chart = hours_by_month_chart(_figures({dt.date(2025, 3, 1): 1234}, []))
        assert chart is not None and _image(chart).size == (WIDTH, 430)
        assert _bars_across(_image(chart)) == 1
    finally:
        charts._font.cache_clear()
