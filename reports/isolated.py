"""Rendering the heavy outputs (PDF) outside the service's process; charts and XLSX inside.

Why: WeasyPrint (+22 MB, 60 MB once rendering) never gives its memory back once imported. The
long-running service (``clausebot run``) calls :func:`enable_isolation` at start; from then on
:func:`render_pdf` (what ``reports.render_pdf`` resolves to) and the escalation letters' PDF
send the plain :class:`BilanFigures` to one long-lived renderer process
(:mod:`reports.renderer`: started at the first PDF, reused, stopped when idle, restarted after a
crash). The HTML e-mail with its charts and the XLSX are made here even then (:data:`HERE`):
the charts are drawn with Pillow, which the service already holds (openpyxl imports it to read
the declaration spreadsheets), as it holds jinja2 for its e-mails, so a bilan e-mail costs about
5 MB here (measured: +4.6 MB steady, +7.4 MB peak, flat over renders) against a 33 MB renderer
process beside the service; an XLSX about 3 MB here against 45 MB in a renderer. The CLI
(``clausebot bilan --out``) renders everything in process: it exits right after.

Any failure of the renderer (exception, crash, kill by the OOM killer, timeout, unreadable
answer) raises :class:`RenderFailed` with a French one-line reason: callers log it and retry
later; it never takes the service down.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from reports.renderer import DEFAULT_TIMEOUT, RenderFailed

if TYPE_CHECKING:
    from clauses.bilan.figures import BilanFigures
    from clauses.context import AgencyIdentity
    from reports.html import RenderedEmail

log = logging.getLogger(__name__)

OUTPUTS = ("html", "xlsx", "pdf")
HERE = frozenset({"html", "xlsx"})
"""Outputs made in the service's own process even under isolation (see the module doc): the
e-mail with its Pillow charts and the XLSX; only the PDF goes to the renderer process."""
__all__ = ["DEFAULT_TIMEOUT", "OUTPUTS", "RenderFailed", "RenderRequest", "RenderedReport",
           "enable_isolation", "render", "render_here", "render_html", "render_in_child",
           "render_pdf", "render_xlsx"]

_isolated = False


class _RenderOptions(TypedDict):
    """The keyword options every renderer takes, typed so a mix-up is caught before a child runs."""

    small_cell_threshold: int
    agency_name: str | None
    generated_on: dt.date | None
    agency: AgencyIdentity | None


@dataclass(frozen=True)
class RenderRequest:
    """Everything the child needs: plain figures (picklable dataclasses) and the options."""

    figures: BilanFigures
    outputs: tuple[str, ...] = ("html",)
    audience: str = "externe"
    small_cell_threshold: int = 3
    agency_name: str | None = None
    generated_on: dt.date | None = None
    agency: AgencyIdentity | None = None
    """The agency's identity (name, address, logo, convention, signature) for the documents."""
    html_pdf: str | None = None
    """An HTML page to print as PDF instead of the figures (the escalation letters' copy)."""


@dataclass(frozen=True)
class RenderedReport:
    """What came back; an output not asked for is None."""

    email: RenderedEmail | None = None
    xlsx: bytes | None = None
    pdf: bytes | None = None


def enable_isolation(enabled: bool = True) -> None:
    """Make the public render functions use a child process (the service calls this once)."""
    global _isolated
    _isolated = enabled


def render_here(request: RenderRequest) -> RenderedReport:
    """Render in this process (the child's work; also the CLI's)."""
    if request.html_pdf is not None:
        from reports.pdf import html_to_pdf

        return RenderedReport(pdf=html_to_pdf(request.html_pdf))
    options = _RenderOptions(small_cell_threshold=request.small_cell_threshold,
                             agency_name=request.agency_name, generated_on=request.generated_on,
                             agency=request.agency)
    unknown = set(request.outputs) - set(OUTPUTS)
    if unknown:
        raise ValueError(f"unknown outputs: {sorted(unknown)}")
    email = xlsx = pdf = None
    if "html" in request.outputs:
        from reports.html import render_html as html_impl

        email = html_impl(request.figures, request.audience, **options)
    if "xlsx" in request.outputs:
        from reports.xlsx import render_xlsx as xlsx_impl

        xlsx = xlsx_impl(request.figures, request.audience, **options)
    if "pdf" in request.outputs:
        from reports.pdf import render_pdf as pdf_impl

        pdf = pdf_impl(request.figures, request.audience, **options)
    return RenderedReport(email=email, xlsx=xlsx, pdf=pdf)


def render_in_child(request: RenderRequest, *, timeout: float = DEFAULT_TIMEOUT) -> RenderedReport:
    """Render in the service's renderer process (:func:`reports.renderer.shared`)."""
    from reports.renderer import shared

    return shared().render(request, timeout=timeout)


def render(request: RenderRequest, *, isolated: bool | None = None) -> RenderedReport:
    """The PDF in the renderer process when isolation is on (or ``isolated=True``), the HTML
    e-mail and the XLSX here; everything here otherwise."""
    if not (isolated if isolated is not None else _isolated):
        return render_here(request)
    away = tuple(o for o in request.outputs if o not in HERE)
    here = tuple(o for o in request.outputs if o in HERE)
    if not away and request.html_pdf is None:
        return _render_here_as_renderer(request)
    if not here:
        return render_in_child(request)
    report = render_in_child(dataclasses.replace(request, outputs=away))
    local = _render_here_as_renderer(dataclasses.replace(request, outputs=here))
    return RenderedReport(email=local.email or report.email, xlsx=local.xlsx or report.xlsx,
                          pdf=report.pdf)


def _render_here_as_renderer(request: RenderRequest) -> RenderedReport:
    """:func:`render_here` for the service: a failure is reported as the renderer's would be
    (:class:`RenderFailed`, a French reason; the caller retries later), whichever process drew."""
    try:
        return render_here(request)
    except Exception as exc:
        raise RenderFailed(f"échec du rendu : {type(exc).__name__}: {exc}"[:300]) from exc


# -- the public API of ``reports`` (same signatures as the in-process renderers) ----------------

def render_html(figures: BilanFigures, audience: str = "externe", *, small_cell_threshold: int = 3,
                agency_name: str | None = None, generated_on: dt.date | None = None,
                agency: AgencyIdentity | None = None) -> RenderedEmail:
    """See :func:`reports.html.render_html`; always in this process (see :data:`HERE`)."""
    report = render(RenderRequest(figures, ("html",), audience, small_cell_threshold, agency_name,
                                  generated_on, agency=agency))
    assert report.email is not None
    return report.email


def render_xlsx(figures: BilanFigures, audience: str = "externe", *, small_cell_threshold: int = 3,
                agency_name: str | None = None, generated_on: dt.date | None = None,
                agency: AgencyIdentity | None = None) -> bytes:
    """See :func:`reports.xlsx.render_xlsx`; always in this process (see :data:`HERE`)."""
    report = render(RenderRequest(figures, ("xlsx",), audience, small_cell_threshold, agency_name,
                                  generated_on, agency=agency))
    assert report.xlsx is not None
    return report.xlsx


def render_pdf(figures: BilanFigures, audience: str = "externe", *, small_cell_threshold: int = 3,
               agency_name: str | None = None, generated_on: dt.date | None = None,
               agency: AgencyIdentity | None = None) -> bytes:
    """See :func:`reports.pdf.render_pdf`; in the renderer process when isolation is on."""
    report = render(RenderRequest(figures, ("pdf",), audience, small_cell_threshold, agency_name,
                                  generated_on, agency=agency))
    assert report.pdf is not None
    return report.pdf
