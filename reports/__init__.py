"""Rendering of the bilans: HTML e-mail (with its text alternative), XLSX, PDF and chat text.

Public API (stable; the bot, the mail sender and the scheduler call it)::

    render_html(figures, audience) -> RenderedEmail(subject, html, text, images)
    render_xlsx(figures, audience) -> bytes
    render_pdf(figures, audience) -> bytes
    render_chat(figures, audience) -> str

``audience="externe"`` (the default: anything that leaves the agency) masks small typology cells;
``"interne"`` shows every figure. Each function also takes ``small_cell_threshold`` (pass
``ctx.policy.small_cell_threshold``); the document renderers take ``agency_name`` and
``generated_on`` for the footer.

The names are resolved lazily (PEP 562) so that ``from reports import render_chat`` does not
import the chart drawing, and ``render_html``, ``render_xlsx`` and ``render_pdf`` come from
:mod:`reports.isolated`: in the long-running service (after
:func:`reports.isolated.enable_isolation`) the PDFs print in the renderer process, so the
service never holds WeasyPrint; the e-mails' Pillow charts and the XLSX are made in the service.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "AUDIENCES": "reports.view",
    "RenderedEmail": "reports.html",
    "build_message": "reports.mime",
    "build_view": "reports.view",
    "render_chat": "reports.chat",
    "render_html": "reports.isolated",
    "render_pdf": "reports.isolated",
    "render_xlsx": "reports.isolated",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'reports' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
