"""The default annual bilan e-mail: figures from ``clauses.bilan``, rendering from ``reports``.

Charts become inline images (``cid:``) and the spreadsheet an attachment, both stored in the
document store so the outbox row only carries document ids.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from clauses.context import Context
from clauses.due import AnnualBilan
from clauses.reminders import BilanMail

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def render_annual_bilan(ctx: Context, session: Session, item: AnnualBilan) -> BilanMail:
    from clauses.bilan import annual_figures
    from reports import render_html, render_xlsx

    start, end = item.period
    figures = annual_figures(session, item.donneur_id, start, end, ctx.rulebook)
    options = {
        "small_cell_threshold": ctx.policy.small_cell_threshold,
        "agency_name": ctx.policy.agency_name,
        "generated_on": ctx.clock.today(),
    }
    mail = render_html(figures, "externe", **options)
    attachments: list[dict] = []
    for cid, png in mail.images:
        doc = ctx.documents.store(session, png, kind="chart", display_name=f"{cid}.png",
                                  mime_type="image/png")
        attachments.append({"cid": cid, "document_id": doc.id, "inline": True})
    sheet = render_xlsx(figures, "externe", **options)
    doc = ctx.documents.store(session, sheet, kind="bilan",
                              display_name=f"{mail.filename_stem}.xlsx", mime_type=XLSX_MIME)
    attachments.append({"document_id": doc.id})
    return BilanMail(subject=mail.subject, text=mail.text, html=mail.html, attachments=attachments)
