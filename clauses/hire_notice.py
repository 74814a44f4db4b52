"""The company hears that a prescriber's candidature naming it was validated, with the way to
record the hire (« Déclarer l'embauche » in chat, the « Embauches » sheet by e-mail).

Without it the person's path stopped there: the validation notice goes to the prescriber who
sent the candidature, and the company — who hires — learnt nothing. The company's own
candidatures need no second notice: they are the submitter's (:mod:`clauses.candidatures`).
Least data that serves: the candidature number and the person's initials (the full record is in
the company's /embauche list, scoped to it).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from clauses.alerts import keyboard
from clauses.outbox import enqueue_chat, enqueue_email
from clauses.reminders import company_recipients
from storage.models import Candidature, CandidatureStatus, Participant, Prescriber


def tell_company_of_validation(session: Session, cand: Candidature, participant: Participant | None) -> int:
    """Queue the notice to the company's chat accounts (with the hire button), else to its
    addresses; in the caller's transaction. Returns the number of messages queued."""
    if (cand.status != CandidatureStatus.VALIDEE or cand.prescriber_id is None
            or cand.company_id is None):
        return 0
    who = f"{participant.last_name.upper()} {participant.first_name[:1]}." if participant else ""
    by = session.scalar(select(Prescriber.name).where(Prescriber.id == cand.prescriber_id)) or "un prescripteur"
    text = (f"La candidature n° {cand.id} ({who}), proposée par {by} pour votre entreprise, est "
            "validée par la·le facilitateur·rice : son éligibilité à la clause d'insertion est "
            "confirmée.")
    key = f"candidature:{cand.id}:company"
    recipients = company_recipients(session, [cand.company_id])[cand.company_id]
    chats = [r for r in recipients if r.user_id is not None and r.chat_id is not None]
    if chats:
        markup = keyboard([[("👷 Déclarer l'embauche", f"h:c:{cand.id}")]])
        for r in chats:
            enqueue_chat(session, dedup_key=f"{key}:{r.tag}", user_id=r.user_id, chat_id=r.chat_id,
                         text=text + " Une fois la personne embauchée, déclarez l'embauche avec le "
                         f"bouton ci-dessous (ou /embauche {cand.id}).", reply_markup=markup)
        return len(chats)
    emails = [(r, r.email) for r in recipients if r.email]
    for r, email in emails:
        enqueue_email(session, dedup_key=f"{key}:{r.tag}", to=email,
                      subject=f"Candidature n° {cand.id} : validée",
                      text=text + " Une fois la personne embauchée, déclarez l'embauche dans "
                      "l'onglet « Embauches » du modèle de déclaration (candidature n° "
                      f"{cand.id}) ; le modèle vous est envoyé sur simple demande par e-mail.")
    return len(emails)
