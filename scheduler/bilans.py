"""The default annual bilan e-mail: figures from ``clauses.bilan``, rendering from ``reports``.

HTML with its charts and the spreadsheet come out of one rendering (in the service's own
process: ``reports.isolated.HERE``), stored in the document store by the same code as the queued reports, so the outbox
row only carries document ids.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from clauses.context import Context
from clauses.due import AnnualBilan
from clauses.reminders import BilanMail


def render_annual_bilan(ctx: Context, session: Session, item: AnnualBilan) -> BilanMail:
    from clauses.bilan import annual_figures
    from reports.isolated import RenderRequest, render
    from reports.queued import store_outputs

    start, end = item.period
    figures = annual_figures(session, item.donneur_id, start, end, ctx.rulebook,
                             today=ctx.clock.today())
    report = render(RenderRequest(figures, ("html", "xlsx"), "externe",
                                  ctx.policy.small_cell_threshold, ctx.policy.agency_name,
                                  ctx.clock.today(), agency=ctx.policy.agency))
    mail = report.email
    assert mail is not None
    return BilanMail(subject=mail.subject, text=mail.text, html=mail.html,
                     attachments=store_outputs(ctx, session, mail, report.xlsx))
