"""The bilan as a PDF (WeasyPrint), from the same view and charts as the e-mail."""

from __future__ import annotations

from clauses.bilan.figures import BilanFigures
from reports.html import pdf_html
from reports.view import ReportView, from_view


@from_view
def render_pdf(figures: BilanFigures, view: ReportView) -> bytes:
    """A4 landscape PDF with page numbers: the per-company and per-market tables have up to
    thirteen columns, which portrait pages would wrap word by word."""
    from weasyprint import HTML  # heavy import (pango, fonts): only when a PDF is asked for

    from reports.charts import build_charts

    html = pdf_html(view, build_charts(figures, view))
    pdf = HTML(string=html, base_url=None).write_pdf()
    assert pdf is not None  # write_pdf returns bytes when no target is given
    return pdf


def html_to_pdf(html: str) -> bytes:
    """A plain A4 PDF of an HTML page (the escalation letters' copy kept by their recipients)."""
    from weasyprint import HTML

    pdf = HTML(string=html, base_url=None).write_pdf()
    assert pdf is not None
    return pdf
