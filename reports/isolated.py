"""Rendering the heavy outputs (charts, HTML e-mail, XLSX, PDF) in a short-lived child process.

Why: matplotlib with numpy (+40 MB) and WeasyPrint (+22 MB) never give their memory back once
imported. The long-running service (``clausebot run``) calls :func:`enable_isolation` at start;
from then on :func:`render_html`, :func:`render_xlsx` and :func:`render_pdf` (what
``reports.render_html`` and friends resolve to) pickle the plain :class:`BilanFigures` to a fresh
``python -m reports.render`` process, which renders and pickles the result back, then exits, so
its memory goes back to the system. The CLI (``clausebot bilan --out``) keeps rendering in
process: it exits right after.

A subprocess rather than ``multiprocessing``: it does not re-import the caller's ``__main__``
(the ``clausebot`` script, a ``-c`` bench harness), its stderr is captured for the error
message, and a timeout simply kills it. Any failure (exception, crash, kill by the OOM killer,
timeout, unreadable answer) raises :class:`RenderFailed` with a French one-line reason: callers
log it and retry later; it never takes the service down.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import pickle
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

if TYPE_CHECKING:
    from clauses.bilan.figures import BilanFigures
    from clauses.context import AgencyIdentity
    from reports.html import RenderedEmail

log = logging.getLogger(__name__)

OUTPUTS = ("html", "xlsx", "pdf")
DEFAULT_TIMEOUT = 300.0
"""Seconds a child may take: an annual bilan of a whole territory renders in a few seconds; a
child stuck longer (fonts cache rebuilt, swap) is killed rather than blocking the sender."""

_isolated = False


class RenderFailed(RuntimeError):
    """The child could not render the report; ``str(exc)`` is a French reason for people."""


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


def _child_env() -> dict[str, str]:
    """The parent's environment, with this checkout first on the path (tests, bench copies)."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env.setdefault("MPLBACKEND", "Agg")
    return env


def render_in_child(request: RenderRequest, *, timeout: float = DEFAULT_TIMEOUT) -> RenderedReport:
    """Render in a fresh ``python -m reports.render`` process; raise :class:`RenderFailed`."""
    try:
        payload = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # a figure that is not plain data: a programming error, say so
        raise RenderFailed(f"données du rapport non transmissibles au moteur de rendu ({exc})") from exc
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "reports.render"], input=payload, capture_output=True,
            timeout=timeout, env=_child_env(), check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RenderFailed(f"le moteur de rendu n'a pas répondu en {timeout:.0f} s (arrêté)") from exc
    except OSError as exc:
        raise RenderFailed(f"moteur de rendu impossible à lancer ({exc})") from exc
    if proc.returncode != 0:
        detail = _last_line(proc.stderr) or f"code de sortie {proc.returncode}"
        log.error("report rendering child failed (exit %s): %s", proc.returncode,
                  proc.stderr.decode(errors="replace")[-2000:])
        raise RenderFailed(f"échec du moteur de rendu : {detail}")
    try:
        result = pickle.loads(proc.stdout)
    except Exception as exc:
        raise RenderFailed(f"réponse illisible du moteur de rendu ({exc})") from exc
    if not isinstance(result, RenderedReport):
        raise RenderFailed("réponse inattendue du moteur de rendu")
    return result


def _last_line(stderr: bytes) -> str:
    lines = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else ""


def render(request: RenderRequest, *, isolated: bool | None = None) -> RenderedReport:
    """In a child when isolation is on (or ``isolated=True``), else here."""
    if isolated if isolated is not None else _isolated:
        return render_in_child(request)
    return render_here(request)


# -- the public API of ``reports`` (same signatures as the in-process renderers) ----------------

def render_html(figures: BilanFigures, audience: str = "externe", *, small_cell_threshold: int = 3,
                agency_name: str | None = None, generated_on: dt.date | None = None,
                agency: AgencyIdentity | None = None) -> RenderedEmail:
    """See :func:`reports.html.render_html`; in a child process when isolation is on."""
    report = render(RenderRequest(figures, ("html",), audience, small_cell_threshold, agency_name,
                                  generated_on, agency=agency))
    assert report.email is not None
    return report.email


def render_xlsx(figures: BilanFigures, audience: str = "externe", *, small_cell_threshold: int = 3,
                agency_name: str | None = None, generated_on: dt.date | None = None,
                agency: AgencyIdentity | None = None) -> bytes:
    """See :func:`reports.xlsx.render_xlsx`; in a child process when isolation is on."""
    report = render(RenderRequest(figures, ("xlsx",), audience, small_cell_threshold, agency_name,
                                  generated_on, agency=agency))
    assert report.xlsx is not None
    return report.xlsx


def render_pdf(figures: BilanFigures, audience: str = "externe", *, small_cell_threshold: int = 3,
               agency_name: str | None = None, generated_on: dt.date | None = None,
               agency: AgencyIdentity | None = None) -> bytes:
    """See :func:`reports.pdf.render_pdf`; in a child process when isolation is on."""
    report = render(RenderRequest(figures, ("pdf",), audience, small_cell_threshold, agency_name,
                                  generated_on, agency=agency))
    assert report.pdf is not None
    return report.pdf
