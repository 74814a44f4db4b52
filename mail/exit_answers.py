"""E-mailed answers to « Que devient … ? »: the reply to the question keeps its subject tag.

The scheduler's question (:mod:`clauses.exits`) has a subject ending in ``[sortie n° 12]`` or
``[suivi n° 12]`` and a numbered list of situations; the employer answers « 3 » by replying.
The tag names the question, the domain checks that the sender may answer for that contract (an
address of another company is refused and the facilitator alerted) and that it was not answered
already; only the sender's own words are read (the quoted question is cut).
"""

from __future__ import annotations

from clauses import exits
from clauses.authz import NotAllowed
from clauses.errors import DomainError
from mail.handlers import MailJob, not_allowed, rejected
from mail.intent import Classified
from mail.outcome import Outcome
from storage.models import MailStatus


def handle_exit_answer(job: MailJob, classified: Classified) -> Outcome | None:
    """The answer's outcome, or None when the message is not an answer to an exit question."""
    tag = exits.SUBJECT_TAG.search(job.parsed.subject or "")
    if tag is None:
        return None
    question_id = int(tag.group(2))
    text = classified.fresh_text or job.parsed.text or ""
    try:
        with job.session.begin_nested():
            row = exits.answer_by_number(job.ctx, job.session, job.actor, question_id, text)
    except NotAllowed:
        return not_allowed(job, "Cette adresse n'est pas celle de l'employeur de la personne "
                           "concernée : la réponse n'est pas enregistrée. Répondez depuis l'adresse "
                           "à laquelle la question a été envoyée.", "sortie")
    except DomainError as exc:
        return rejected(job, [exc.message_fr], "sortie_refusee")
    label = exits.situation_label(job.ctx, row.situation or "")
    job.reply("forwarded", note=f"Votre réponse est enregistrée : « {label} ». Merci.")
    return Outcome(MailStatus.TRAITE, "sortie", {"question_id": row.id, "situation": row.situation})
