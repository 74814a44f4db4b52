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
"""

from reports.chat import render_chat
from reports.html import RenderedEmail, render_html
from reports.mime import build_message
from reports.pdf import render_pdf
from reports.view import AUDIENCES, build_view
from reports.xlsx import render_xlsx

__all__ = [
    "AUDIENCES",
    "RenderedEmail",
    "build_message",
    "build_view",
    "render_chat",
    "render_html",
    "render_pdf",
    "render_xlsx",
]
