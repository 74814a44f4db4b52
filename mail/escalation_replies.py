"""Replies about an escalation case, recognised by the case tag their subject keeps
(« [procédure n° 12] », see :func:`clauses.escalation_letters.case_tag`).

* a référent answering « accord » to the draft letter gives the buyer's consent, which sends
  the letter (:func:`clauses.escalation_procedure.give_consent`); an address that is not a
  référent of the case's donneur is refused, told why, and the facilitator alerted;
* the company answering the reminder or the letter (a plan, a candidate, a dispute) has its
  answer attached to the case, and the facilitator alerted.

Anything else about a case goes on to the ordinary handlers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clauses import escalation_procedure as proc
from clauses.errors import DomainError
from mail.intent import Classified
from mail.outcome import Outcome
from storage.models import MailStatus

if TYPE_CHECKING:
    from mail.handlers import MailJob


def handle(job: MailJob, classified: Classified) -> Outcome | None:
    """The case this message answers, handled; None when it is not about a case."""
    case_id = proc.case_id_in(job.parsed.subject)
    if case_id is None:
        return None
    text = (classified.fresh_text or job.parsed.text or "").strip()
    if job.actor.company_id is not None:
        try:
            found = proc.company_answer(job.ctx, job.session, job.actor, text, case_id)
        except DomainError as err:
            job.reply("not_allowed", reason=err.message_fr)
            return Outcome(MailStatus.ERREUR, "reponse_procedure_refusee", {"case_id": case_id})
        job.reply("forwarded", note=f"Votre réponse est jointe à la procédure n° {found} et "
                                    "transmise à votre facilitateur·rice.")
        return Outcome(MailStatus.TRAITE, "reponse_procedure", {"case_id": found})
    if not proc.is_consent(text):
        return None
    try:
        result = proc.give_consent(job.ctx, job.session, job.actor, case_id)
    except proc.NotAReferent as err:
        job.reply("not_allowed", reason=err.message_fr)
        return Outcome(MailStatus.ERREUR, "accord_refuse", {"case_id": case_id})
    except DomainError as err:
        job.reply("not_allowed", reason=err.message_fr)
        return Outcome(MailStatus.ERREUR, "accord_impossible", {"case_id": case_id})
    note = (f"Votre accord était déjà enregistré pour la procédure n° {case_id}."
            if result.already else
            f"Votre accord est enregistré : le courrier de rappel des obligations part à "
            f"l'entreprise (procédure n° {case_id}).")
    job.reply("forwarded", note=note)
    return Outcome(MailStatus.TRAITE, "accord_donneur", {"case_id": case_id,
                                                         "already": result.already})
