"""Render the escalation letters queued by the domain (:mod:`clauses.escalation_letters`).

The outbox row holds a render request (``{"render": {"what": "letter", ...}}``): the sender
claims it like a queued report and, before the SMTP session opens, this preparer renders the
text from ``templates/escalade_<name>.txt.j2`` (the one wording), the HTML from the same
paragraphs, and the PDF copy from that HTML (WeasyPrint, in the reports' short-lived child
process when isolation is on, as for the bilans), stores the PDF and rewrites the row,
in one transaction that first checks the row is still claimed by this attempt.
"""

from __future__ import annotations

import logging
from typing import Any

from clauses.escalation_letters import letter_request
from mail.render import Rendered, environment
from reports.queued import Prepared, ReportPreparer, RowChanged
from storage.models import OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)


def render_letter(template: str, context: dict[str, Any]) -> Rendered:
    """Subject, text and HTML of one letter (the HTML repeats the text's paragraphs)."""
    env = environment()
    module = env.get_template(f"escalade_{template}.txt.j2").make_module(context)
    subject = " ".join(str(getattr(module, "subject", "")).split())
    text = str(module).strip() + "\n"
    paragraphs = [p.splitlines() for p in text.split("\n\n") if p.strip()]
    html = env.get_template("_letter.html.j2").render(
        subject=subject, paragraphs=paragraphs, agency_name=context.get("agency_name", ""))
    return Rendered(subject=subject, text=text, html=html)


class LetterPreparer(ReportPreparer):
    """Renders letters itself and leaves the other queued reports to :class:`ReportPreparer`."""

    def prepare(self, row_id: int, attempts: int) -> Prepared | None:
        with self.ctx.db.read_session() as s:
            row = s.get(OutboxMessage, row_id)
            request = letter_request(row.attachments if row is not None else None)
        if request is None:
            return super().prepare(row_id, attempts)
        from reports.isolated import RenderRequest, render

        letter = render_letter(str(request["template"]), dict(request.get("context") or {}))
        pdf = None
        if request.get("pdf_name"):  # WeasyPrint in the reports' child process (its memory)
            pdf = render(RenderRequest(None, ("pdf",), html_pdf=letter.html),  # type: ignore[arg-type]
                         isolated=self.isolated).pdf
        with self.ctx.db.session() as s:
            row = s.get(OutboxMessage, row_id)
            if (row is None or row.status != OutboxStatus.SENDING or row.attempts != attempts
                    or letter_request(row.attachments) is None):
                raise RowChanged(f"outbox {row_id} changed while its letter was rendered")
            attachments: list[dict[str, Any]] = []
            if pdf is not None:
                doc = self.ctx.documents.store(s, pdf, kind="letter_pdf",
                                               display_name=str(request["pdf_name"]),
                                               mime_type="application/pdf")
                attachments.append({"document_id": doc.id})
            row.subject = letter.subject[:300]
            row.body_text = letter.text
            row.body_html = letter.html
            row.attachments = attachments
        log.info("outbox %s: letter %s rendered", row_id, request["template"])
        return Prepared(subject=letter.subject[:300], text=letter.text, html=letter.html,
                        attachments=attachments)
