"""Reports asked for by e-mail or chat, queued in the request's transaction and rendered later.

Why: computing the figures and drawing the charts of a point d'étape takes about 350 ms (and
loads the chart fonts); doing it inside the e-mail intake's transaction made 5 % of the messages
take 60 % of the intake's time and held the database's write lock meanwhile. So the request's
transaction only queues the e-mail to send: an outbox row whose one attachment is a *render
request* (``{"render": {...}}``, plain JSON: what to compute, for whom, as of which day). The
e-mail outbox sender (:mod:`mail.outbox_sender`) claims the row as usual, and before building
the message calls :meth:`ReportPreparer.prepare`, which

1. computes the figures from the database (a read-only session),
2. renders HTML, charts and XLSX in a short-lived child process (:mod:`reports.isolated`),
3. stores the images and the spreadsheet and replaces the row's body and attachments, in one
   transaction that first re-checks that the row is still claimed by this attempt.

Exactly once, crash-safe: the row is written with the request (same dedup key as before, so a
request processed twice queues one e-mail); a crash before step 3 commits leaves the row with
its render request, and it is claimed again after its lease; a crash after step 3 leaves a
normal, rendered row, which is sent like any other. A rendering failure is retried with the
outbox's backoff and, after the last attempt, the row is marked dead with an ENVOI_ECHOUE
alert that says why.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from clauses.context import Context
from clauses.outbox import BULK, enqueue_email
from storage.models import OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

RENDER_KEY = "render"
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PENDING_TEXT = "(rapport en préparation)"
"""The row's body until it is rendered; never sent (the sender renders first)."""
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class ReportSpec:
    """What to compute and render; stored as JSON in the outbox row.

    ``what`` is ``"market"`` (point d'étape of ``market_id`` as of ``at``) or ``"annual"``
    (bilan of ``donneur_id`` over ``start``..``end``). ``subject_from_report``: replace the
    row's subject by the report's own (a reply keeps "Re: <the request's subject>").
    """

    what: str
    market_id: int | None = None
    donneur_id: int | None = None
    at: dt.date | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    audience: str = "externe"
    generated_on: dt.date | None = None
    xlsx: bool = True
    subject_from_report: bool = True

    def to_json(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, dt.date) else v)
                for k, v in dataclasses.asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReportSpec:
        names = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in names:
                continue  # a field written by a newer version: ignore rather than fail
            if key in ("at", "start", "end", "generated_on") and isinstance(value, str):
                value = dt.date.fromisoformat(value)
            values[key] = value
        return cls(**values)


def render_request(attachments: list[Any] | None) -> ReportSpec | None:
    """The render request of an outbox row's attachments, if it still has one."""
    for item in attachments or []:
        if isinstance(item, dict) and isinstance(item.get(RENDER_KEY), dict):
            return ReportSpec.from_json(item[RENDER_KEY])
    return None


def enqueue_report_email(
    session: Session,
    *,
    dedup_key: str,
    to: str,
    spec: ReportSpec,
    subject: str,
    headers: dict[str, str] | None = None,
    priority: int = BULK,
) -> tuple[OutboxMessage, bool]:
    """Queue an e-mail whose content is rendered by the sender (see the module docstring)."""
    return enqueue_email(session, dedup_key=dedup_key, to=to, subject=subject, text=PENDING_TEXT,
                         attachments=[{RENDER_KEY: spec.to_json()}], headers=headers,
                         priority=priority)


@dataclass(frozen=True)
class Prepared:
    """The rendered content now stored on the row."""

    subject: str
    text: str
    html: str
    attachments: list[dict[str, Any]]


class RowChanged(RuntimeError):
    """The row is no longer ours (lease expired and reclaimed, scrubbed, already rendered)."""


def store_outputs(ctx: Context, session: Session, email: Any, xlsx: bytes | None
                  ) -> list[dict[str, Any]]:
    """Store a rendered report's charts (inline ``cid:`` images) and spreadsheet in the
    document store; the outbox attachments that point at them. Shared by the queued reports
    and the scheduler's annual bilan."""
    attachments: list[dict[str, Any]] = []
    for cid, png in email.images:
        doc = ctx.documents.store(session, png, kind="report_image", display_name=f"{cid}.png",
                                  mime_type="image/png", max_bytes=MAX_DOCUMENT_BYTES)
        attachments.append({"cid": cid, "document_id": doc.id, "inline": True})
    if xlsx is not None:
        doc = ctx.documents.store(session, xlsx, kind="report_xlsx",
                                  display_name=f"{email.filename_stem}.xlsx",
                                  mime_type=XLSX_MIME, max_bytes=MAX_DOCUMENT_BYTES)
        attachments.append({"document_id": doc.id})
    return attachments


class ReportPreparer:
    """Compute, render (in a child process) and store a queued report; see the module doc."""

    def __init__(self, ctx: Context, *, isolated: bool = True) -> None:
        self.ctx = ctx
        self.isolated = isolated

    def figures(self, session: Session, spec: ReportSpec) -> Any:
        from clauses.bilan import annual_figures, market_figures

        if spec.what == "market" and spec.market_id is not None:
            return market_figures(session, spec.market_id, spec.at, self.ctx.rulebook)
        if spec.what == "annual" and spec.donneur_id is not None and spec.start and spec.end:
            return annual_figures(session, spec.donneur_id, spec.start, spec.end, self.ctx.rulebook,
                                  today=spec.generated_on or self.ctx.clock.today())
        raise ValueError(f"demande de rapport incomplète : {spec.to_json()}")

    def prepare(self, row_id: int, attempts: int) -> Prepared | None:
        """Render the row's report and store it; None when the row has nothing to render.

        Raises :class:`reports.isolated.RenderFailed` (rendering), :class:`RowChanged`, or the
        figures' own errors: the sender reschedules the row with the message.
        """
        from reports.isolated import RenderRequest, render

        db = self.ctx.db
        with db.read_session() as s:  # no write lock while computing
            row = s.get(OutboxMessage, row_id)
            spec = render_request(row.attachments if row is not None else None)
            if row is None or spec is None:
                return None
            figures = self.figures(s, spec)
        policy = self.ctx.policy
        outputs = ("html", "xlsx") if spec.xlsx else ("html",)
        report = render(RenderRequest(figures, outputs, spec.audience, policy.small_cell_threshold,
                                      policy.agency_name, spec.generated_on or self.ctx.clock.today(),
                                      agency=policy.agency),
                        isolated=self.isolated)
        email = report.email
        assert email is not None
        with db.session() as s:
            row = s.get(OutboxMessage, row_id)
            if (row is None or row.status != OutboxStatus.SENDING or row.attempts != attempts
                    or render_request(row.attachments) is None):
                raise RowChanged(f"outbox {row_id} changed while its report was rendered")
            attachments = store_outputs(self.ctx, s, email, report.xlsx)
            if spec.subject_from_report:
                row.subject = email.subject[:300]
            row.body_text = email.text
            row.body_html = email.html
            row.attachments = attachments
            prepared = Prepared(subject=row.subject or "", text=email.text, html=email.html,
                                attachments=attachments)
        log.info("outbox %s: report rendered (%s, %d images)", row_id, spec.what, len(email.images))
        return prepared
