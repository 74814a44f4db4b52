"""The escalation's letters and notices, queued as *render requests* in the caller's transaction.

The domain decides who gets which letter and with which facts; the wording lives in Jinja
templates (``mail/templates/escalade_<name>.{txt,html}.j2``) and the e-mail outbox sender renders
them, with the PDF copy attached, before sending (``mail.letters``; the same path as the queued
reports of :mod:`reports.queued`). The facts are frozen here as plain JSON, so the letter says
what was true when it was decided, whatever happens before it goes out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from clauses.context import Context
from clauses.formatting import fr_date, fr_hours
from clauses.outbox import enqueue_email

RENDER_KEY = "render"
"""Same key as :data:`reports.queued.RENDER_KEY`: the e-mail sender renders these rows first."""
LETTER = "letter"
PENDING_TEXT = "(courrier en préparation)"


@dataclass(frozen=True)
class LetterFacts:
    """What every letter of a case quotes (strings already in French where they are dates)."""

    case_id: int
    company_name: str
    donneur_name: str
    market_reference: str
    market_title: str
    lot_number: int
    lot_label: str
    owed: Decimal
    done: Decimal
    expected: Decimal
    contacts: int
    written_contacts: int
    deadline_days: int
    agency_name: str
    agency_email: str

    def to_json(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id, "company_name": self.company_name,
            "donneur_name": self.donneur_name, "market_reference": self.market_reference,
            "market_title": self.market_title, "lot_number": self.lot_number,
            "lot_label": self.lot_label, "owed": fr_hours(self.owed), "done": fr_hours(self.done),
            "expected": fr_hours(self.expected), "missing": fr_hours(max(self.owed - self.done, Decimal(0))),
            "contacts": self.contacts, "written_contacts": self.written_contacts,
            "deadline_days": self.deadline_days, "agency_name": self.agency_name,
            "agency_email": self.agency_email,
        }


def case_tag(case_id: int) -> str:
    """The subject tag a reply keeps, by which an answer or a consent finds its case."""
    return f"[procédure n° {case_id}]"


def queue_letter(
    ctx: Context,
    session: Session,
    *,
    dedup_key: str,
    to: str,
    template: str,
    facts: LetterFacts,
    pdf_name: str | None,
    extra: dict[str, Any] | None = None,
    on: dt.date | None = None,
) -> bool:
    """Queue one letter e-mail; True when queued now (False: the same key was queued before)."""
    context = {**facts.to_json(), **(extra or {}),
               "letter_date": fr_date(on or ctx.clock.today()), "tag": case_tag(facts.case_id)}
    request = {"what": LETTER, "template": template, "context": context, "pdf_name": pdf_name}
    _, created = enqueue_email(session, dedup_key=dedup_key, to=to,
                               subject=f"{case_tag(facts.case_id)} {template}",
                               text=PENDING_TEXT, attachments=[{RENDER_KEY: request}])
    return created


def letter_request(attachments: list[Any] | None) -> dict[str, Any] | None:
    """The letter render request of an outbox row, if it still holds one."""
    for item in attachments or []:
        if isinstance(item, dict):
            request = item.get(RENDER_KEY)
            if isinstance(request, dict) and request.get("what") == LETTER:
                return request
    return None
