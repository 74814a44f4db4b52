"""HTML e-mail of a bilan (phone-readable, inline CSS, charts as cid: images) and its PDF HTML."""

from __future__ import annotations

import base64
import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from clauses.bilan.figures import BilanFigures
from reports.text import render_text
from reports.view import Fmt, ReportView, from_view

if TYPE_CHECKING:  # the charts module is imported only where a chart is drawn (see reports.isolated)
    from reports.charts import Chart

CHART_PLACES = {"heures-par-mois": "Heures par mois", "heures-par-entreprise": "Entreprises",
                "typologie-age": "Âge", "typologie-genre": "Genre", "typologie-qpv": "QPV",
                "typologie-statut": "Statut à l'entrée"}
"""Which table each chart is shown above."""

NUMERIC_FMTS = (Fmt.HOURS, Fmt.INT, Fmt.PCT)
LOGO_CID = "logo-agence"
"""Content-ID of the agency's logo in the e-mail (PNG logos; a JPEG one is printed in the PDF
only, the e-mail's images being PNG)."""


@dataclass(frozen=True)
class RenderedEmail:
    """What the mail sender needs: build a multipart/alternative with ``text`` and a
    multipart/related holding ``html`` and each image as ``image/png`` with
    ``Content-ID: <cid>``."""

    subject: str
    html: str
    text: str
    images: list[tuple[str, bytes]] = field(default_factory=list)
    filename_stem: str = "bilan"

    def html_with_data_uris(self) -> str:
        """The HTML with its images inlined, for a file opened in a browser."""
        html = self.html
        for cid, png in self.images:
            data = base64.b64encode(png).decode("ascii")
            html = html.replace(f'src="cid:{cid}"', f'src="data:image/png;base64,{data}"')
        return html


@functools.lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html", "j2"), default=True),
        undefined=StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
    )
    env.globals["numeric_fmts"] = NUMERIC_FMTS
    return env


def _images_by_table(charts: list[Chart], src) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for chart in charts:
        place = CHART_PLACES.get(chart.cid, "")
        out.setdefault(place, []).append({"src": src(chart), "alt": chart.alt,
                                          "title": chart.title})
    return out


@from_view
def render_html(figures: BilanFigures, view: ReportView) -> RenderedEmail:
    """The bilan as an e-mail: subject, HTML (images as ``cid:``), plain text, images."""
    from reports.charts import build_charts  # Pillow: only when an e-mail is rendered
    from reports.labels import file_stem

    charts = build_charts(figures, view)
    logo = view.agency.logo_bytes if view.agency and view.agency.logo_mime == "image/png" else None
    html = environment().get_template("email.html.j2").render(
        view=view, compact=True, images=_images_by_table(charts, lambda c: f"cid:{c.cid}"),
        logo_src=f"cid:{LOGO_CID}" if logo else None)
    return RenderedEmail(
        subject=view.subject,
        html=html,
        text=render_text(view),
        images=[(c.cid, c.png) for c in charts] + ([(LOGO_CID, logo)] if logo else []),
        filename_stem=file_stem(figures),
    )


def _css_string(text: str) -> Markup:
    """Text safe inside a double-quoted CSS string in a <style> element (raw text in HTML)."""
    cleaned = text.replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\3c ")
    return Markup(cleaned.replace("\n", " "))


def pdf_html(view: ReportView, charts: list[Chart]) -> str:
    """Full-width tables and data: URI images, for WeasyPrint."""

    def data_uri(chart: Chart) -> str:
        return "data:image/png;base64," + base64.b64encode(chart.png).decode("ascii")

    return environment().get_template("pdf.html.j2").render(
        view=view, compact=False, images=_images_by_table(charts, data_uri),
        logo_src=view.agency.logo_data_uri if view.agency else None,
        footer_left=_css_string(view.subject))
