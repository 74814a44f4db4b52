"""E-mailed proofs answering a contest: the reply to « Déclaration contestée … [déclaration
n° 12] » with a PDF or a photo attached is stored as declaration 12's proof.

The subject tag names the declaration; the domain (:func:`clauses.declaration_control.attach_proof`)
checks that the sender's company holds it, stores the file and tells the facilitator. A reply
carrying a corrected declaration workbook is left to the declaration handler (it is a
correction); a reply with no file goes to a facilitator like any other message.
"""

from __future__ import annotations

from clauses import declaration_control as dc
from clauses.authz import NotAllowed
from mail.handlers import MailJob, not_allowed
from mail.intent import CV_MIMES, Classified
from mail.outcome import Outcome
from storage.documents import DocumentRejected
from storage.models import MailStatus

PROOF_MIMES = CV_MIMES - {"application/vnd.openxmlformats-officedocument.wordprocessingml.document"}


def handle(job: MailJob, classified: Classified) -> Outcome | None:
    """The proof's outcome, or None when the message is not a proof answering a contest."""
    tag = dc.PROOF_TAG.search(job.parsed.subject or "")
    if tag is None or classified.spreadsheets:
        return None
    files = [a for a in job.parsed.attachments if a.sniffed in PROOF_MIMES]
    if not files:
        return None
    declaration_id = int(tag.group(1))
    stored: list[str] = []
    try:
        with job.session.begin_nested():
            for att in files:
                line = dc.attach_proof(job.ctx, job.session, job.actor, declaration_id, att.data,
                                       display_name=att.filename, mime_type=att.sniffed,
                                       max_bytes=job.cfg.max_attachment_bytes)
                stored.append(att.filename or "fichier")
    except NotAllowed:
        return not_allowed(job, "Cette adresse n'est pas celle de l'entreprise qui a fait la "
                           f"déclaration n° {declaration_id} : le justificatif n'est pas "
                           "enregistré. Répondez depuis l'adresse à laquelle la contestation a été "
                           "envoyée.", "justificatif")
    except DocumentRejected as exc:
        job.reply("forwarded", note=f"Le justificatif n'a pas été enregistré : {exc.message_fr}")
        return Outcome(MailStatus.ERREUR, "justificatif", {"declaration_id": declaration_id})
    job.reply("forwarded", note=f"Justificatif enregistré ({', '.join(stored)}) pour la "
              f"déclaration {line.label}. La·le facilitateur·rice est prévenu·e et la contrôle.")
    return Outcome(MailStatus.TRAITE, "justificatif", {"declaration_id": declaration_id,
                                                       "files": len(stored)})
