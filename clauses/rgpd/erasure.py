"""Erasure (GDPR art. 17, on the person's request): everything about the person is deleted.

Statistical attributes go too. When contracts exist, their hours stay (they are the company's
legal record of the clause, art. 17(3)(b) and (e)) attached to an empty row ("EFFACÉ n° 12"),
so past totals of hours stay right but the person moves to "non renseigné" in typologies.
Without contracts the row itself is deleted. A plan (:func:`erasure_plan`) shows what would go
before anything is done.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from clauses import audit
from clauses.actors import Actor
from clauses.authz import Action, authorize
from clauses.context import Context
from clauses.errors import DomainError
from clauses.formatting import fr_date
from clauses.rgpd.deletion import delete_participants
from clauses.rgpd.document_removal import delete_documents, participant_document_ids
from clauses.rgpd.mail_scrub import scrub_mentions
from clauses.rgpd.mentions import mentions_of
from clauses.rgpd.message_scrub import quoting_messages, scrub_messages
from clauses.rgpd.subjects import existing_participant
from storage.models import (
    Candidature,
    Company,
    Contract,
    Eligibility,
    Engagement,
    HourDeclaration,
)

ERASED_LAST_NAME = "EFFACÉ"


class ErasureRefused(DomainError):
    """The erasure would break something that is still going on; says how to proceed."""

    code = "erasure_refused"


@dataclass(frozen=True)
class RunningContract:
    contract_id: int
    company: str
    start: dt.date
    end: dt.date | None


@dataclass
class ErasurePlan:
    """What an erasure would remove, shown before anything is done."""

    participant_id: int
    display_name: str
    already_anonymised: bool
    candidatures: int
    eligibilities: int
    documents: int
    contracts: int
    declarations: int
    alerts: int
    messages: int
    running: list[RunningContract]
    mails: int = 0

    @property
    def deletes_row(self) -> bool:
        """Without contracts nothing needs to survive: the person's row itself goes."""
        return self.contracts == 0

    def lines_fr(self) -> list[str]:
        lines = [
            f"Personne n° {self.participant_id} : {self.display_name}"
            + (" (déjà anonymisée)" if self.already_anonymised else ""),
            f"- identité (nom, prénom, naissance, genre, commune, QPV, e-mail, téléphone) : "
            f"{'supprimée avec la fiche' if self.deletes_row else 'effacée'}",
            f"- critères d'éligibilité validés : {self.eligibilities} (supprimés)",
            f"- candidatures : {self.candidatures} "
            + ("(supprimées)" if self.deletes_row else "(supprimées, ou vidées si un contrat les cite)"),
            f"- documents (CV, justificatifs, bulletins) : {self.documents} (supprimés)",
            f"- alertes et messages qui la citent : {self.alerts} alerte(s), "
            f"{self.messages} message(s) (texte retiré)",
            f"- e-mails reçus qui la concernent : {self.mails} (message brut et copies dans "
            "les dossiers de la boîte supprimés, objet effacé)",
        ]
        if self.contracts:
            lines.append(
                f"- contrats : {self.contracts}, déclarations d'heures : {self.declarations} "
                "(conservés sans identité : obligation légale de l'entreprise et bilans ; la "
                "personne passe en « non renseigné » dans les typologies)"
            )
        for r in self.running:
            end = fr_date(r.end) if r.end else "sans date de fin"
            lines.append(
                f"- ATTENTION contrat en cours n° {r.contract_id} chez {r.company} "
                f"(du {fr_date(r.start)}, {end})"
            )
        lines.append("- journal d'accès : conservé (il ne contient que des numéros)")
        return lines


def _count(session: Session, q) -> int:
    return int(session.scalar(select(func.count()).select_from(q.subquery())) or 0)


def erasure_plan(ctx: Context, session: Session, actor: Actor, participant_id: int) -> ErasurePlan:
    authorize(session, actor, Action.RGPD, "participant", participant_id)
    person = existing_participant(session, participant_id)
    pid = person.id
    today = ctx.clock.today()
    running = [
        RunningContract(cid, name, start, end)
        for cid, name, start, end in session.execute(
            select(Contract.id, Company.name, Contract.start_date, Contract.end_date)
            .join(Engagement, Engagement.id == Contract.engagement_id)
            .join(Company, Company.id == Engagement.company_id)
            .where(Contract.participant_id == pid,
                   (Contract.end_date.is_(None)) | (Contract.end_date >= today))
            .order_by(Contract.start_date)
        )
    ]
    alert_ids, outbox_ids = quoting_messages(session, [pid])
    mentioned = mentions_of(ctx, session, [pid])
    alert_ids = sorted({*alert_ids, *mentioned.alert_ids})
    outbox_ids = sorted({*outbox_ids, *mentioned.outbox_ids})
    plan = ErasurePlan(
        participant_id=pid,
        display_name=person.display_name,
        already_anonymised=person.anonymised_at is not None,
        candidatures=_count(session, select(Candidature.id).where(Candidature.participant_id == pid)),
        eligibilities=_count(session, select(Eligibility.id).where(Eligibility.participant_id == pid)),
        documents=len(participant_document_ids(session, [pid])),
        contracts=_count(session, select(Contract.id).where(Contract.participant_id == pid)),
        declarations=_count(session, select(HourDeclaration.id).join(Contract).where(
            Contract.participant_id == pid)),
        alerts=len(alert_ids),
        messages=len(outbox_ids),
        running=running,
        mails=len(mentioned.mails),
    )
    audit.record(session, actor, "rgpd.erase_preview", "participant", pid)
    return plan


@dataclass
class ErasureResult:
    plan: ErasurePlan
    row_deleted: bool
    files: list[str]


def erase_participant(ctx: Context, session: Session, actor: Actor, participant_id: int, *,
                      force_reason: str | None = None) -> ErasureResult:
    """Erase a person on their request (art. 17); refuse while a contract is still running.

    A running contract means the company still declares hours for the person: erasing now would
    silently stop the counting. `force_reason` overrides, and is kept in the audit log.
    """
    plan = erasure_plan(ctx, session, actor, participant_id)
    reason = (force_reason or "").strip() or None
    if plan.running and reason is None:
        raise ErasureRefused(
            f"La personne n° {participant_id} a {len(plan.running)} contrat(s) en cours : "
            "l'effacement arrêterait le décompte de ses heures. Attendez la fin du contrat, "
            "ou forcez en indiquant le motif (--force \"motif\").",
            f"Participant {participant_id} has running contracts; erasure refused without a reason.",
        )
    pid = plan.participant_id
    doc_ids = participant_document_ids(session, [pid])
    # first, while her name, e-mail and phone are still there to be recognised in free texts
    mail_files = scrub_mentions(ctx, session, [pid]).files
    if plan.deletes_row:
        shas = delete_participants(ctx, session, [pid])
    else:
        person = existing_participant(session, pid)
        scrub_messages(session, [pid])
        shas = delete_documents(ctx, session, doc_ids)
        session.execute(delete(Eligibility).where(Eligibility.participant_id == pid),
                        execution_options={"synchronize_session": "fetch"})
        cited = select(Contract.candidature_id).where(Contract.candidature_id.is_not(None))
        session.execute(
            delete(Candidature).where(Candidature.participant_id == pid,
                                      Candidature.id.not_in(cited)),
            execution_options={"synchronize_session": "fetch"},
        )
        session.execute(
            update(Candidature).where(Candidature.participant_id == pid)
            .values(message=None, refusal_reason=None, criteria_claimed=[]),
            execution_options={"synchronize_session": "fetch"},
        )
        person.last_name = ERASED_LAST_NAME
        person.first_name = f"n° {pid}"
        for attr in ("birth_date", "gender", "commune", "status_at_entry", "email", "phone",
                     "pool_consent_at", "exit_situation", "exit_date", "prescriber_id"):
            setattr(person, attr, None)
        person.qpv = False
        person.anonymised_at = ctx.clock.now()
    audit.record(session, actor, "rgpd.erase", "participant", pid,
                 force_reason=reason, running_contracts=len(plan.running) or None,
                 documents=len(doc_ids), row_deleted=plan.deletes_row)
    session.flush()
    return ErasureResult(plan=plan, row_deleted=plan.deletes_row, files=sorted({*shas, *mail_files}))
