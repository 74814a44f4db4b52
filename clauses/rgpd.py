"""Data-subject rights and the low-level operations that remove personal data.

Three different things happen to a participant's data, and they must not be confused:

* **Anonymisation** (retention, :mod:`clauses.retention`): after a period of inactivity the person
  is no longer identifiable, but the statistical attributes the bilans count are kept (gender,
  birth year generalised so every age computed at a contract date stays exact, commune and QPV
  flag, status at entry, exit situation). Hours, contracts and past bilans do not change.
* **Erasure** (GDPR art. 17, on the person's request, :func:`erase_participant`): everything about
  the person is deleted, statistical attributes included. When contracts exist, their hours stay
  (they are the company's legal record of the clause, art. 17(3)(b) and (e)) attached to an empty
  row ("EFFACÉ n° 12"), so past totals of hours stay right but the person moves to "non
  renseigné" in typologies. Without contracts the row itself is deleted.
* **Export** (art. 15 and 20, :func:`export_participant`): everything about the person, as JSON
  plus the stored documents.

Files are removed from the disk only after the deletion of their rows is committed (a rolled back
transaction must not leave rows pointing at missing files), and only when no other row still
uses the same content (the store is content-addressed, see :mod:`storage.documents`).
"""

from __future__ import annotations

import datetime as dt
import json
import mimetypes
import os
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from sqlalchemy import String, cast, delete, event, func, inspect, or_, select, update
from sqlalchemy.orm import Session

from clauses import audit
from clauses.actors import Actor
from clauses.authz import MATRIX, Action, NotAllowed, authorize
from clauses.context import Context
from clauses.errors import DomainError
from clauses.formatting import fr_date
from storage.models import (
    Alert,
    AuditEntry,
    Base,
    Candidature,
    Company,
    Contract,
    DeclarationRevision,
    Document,
    Eligibility,
    Engagement,
    HourDeclaration,
    Lot,
    Market,
    OutboxMessage,
    OutboxStatus,
    Participant,
    Role,
)

ANONYMOUS_LAST_NAME = "ANONYME"
ERASED_LAST_NAME = "EFFACÉ"
REDACTED_FR = "[contenu retiré : données personnelles anonymisées ou effacées (RGPD)]"
CANCELLED_FR = "annulé : données personnelles effacées (RGPD)"
_FILES_KEY = "clausebot_rgpd_files_to_remove"
_HOOKED_KEY = "clausebot_rgpd_files_hooked"


class ErasureRefused(DomainError):
    """The erasure would break something that is still going on; says how to proceed."""

    code = "erasure_refused"


# -- documents ---------------------------------------------------------------------------------


def _document_references() -> list[Any]:
    """Every mapped column that points at documents.id, found from the models themselves.

    Looking them up instead of listing them means a column added later by another module is
    detached too, instead of making the DELETE fail on a foreign key.
    """
    refs = []
    for mapper in Base.registry.mappers:
        for attr in mapper.column_attrs:
            for column in attr.columns:
                if any(fk.target_fullname == "documents.id" for fk in column.foreign_keys):
                    refs.append(getattr(mapper.class_, attr.key))
    return refs


def participant_document_ids(session: Session, participant_ids: Sequence[int]) -> set[int]:
    """The documents about these persons: theirs, their CVs, proofs and declaration proofs."""
    if not participant_ids:
        return set()
    ids = list(participant_ids)
    contract_ids = select(Contract.id).where(Contract.participant_id.in_(ids))
    q = (
        select(Document.id).where(Document.participant_id.in_(ids))
        .union(
            select(Candidature.cv_document_id).where(Candidature.participant_id.in_(ids)),
            select(Eligibility.proof_document_id).where(Eligibility.participant_id.in_(ids)),
            select(HourDeclaration.proof_document_id).where(
                HourDeclaration.contract_id.in_(contract_ids)
            ),
        )
    )
    return {i for i in session.scalars(q) if i is not None}


def delete_documents(ctx: Context, session: Session, document_ids: Iterable[int]) -> list[str]:
    """Detach and delete document rows now; remove their files once this is committed.

    Returns the SHA-256 of the deleted rows (a file shared with a surviving row is kept).
    """
    ids = sorted(set(document_ids))
    if not ids:
        return []
    for column in _document_references():
        session.execute(
            update(column.class_).where(column.in_(ids)).values({column.key: None}),
            execution_options={"synchronize_session": "fetch"},
        )
    shas = sorted(set(session.scalars(select(Document.sha256).where(Document.id.in_(ids)))))
    session.execute(delete(Document).where(Document.id.in_(ids)),
                    execution_options={"synchronize_session": "fetch"})
    session.flush()
    remove_files_after_commit(ctx, session, shas)
    return shas


def remove_files_after_commit(ctx: Context, session: Session, shas: Iterable[str]) -> None:
    """Unlink these files when `session` really commits; forget them if it rolls back.

    `after_commit` also fires when a SAVEPOINT is released: only the outermost commit counts.
    """
    pending: set[str] = session.info.setdefault(_FILES_KEY, set())
    pending.update(shas)
    if not pending or session.info.get(_HOOKED_KEY):
        return
    session.info[_HOOKED_KEY] = True

    def _after_commit(sess: Session) -> None:
        if sess.get_nested_transaction() is not None:
            return
        todo = sess.info.pop(_FILES_KEY, set())
        if not todo:
            return
        # A fresh session re-checks the committed state: a row added meanwhile keeps its file.
        with ctx.db.session() as fresh:
            for sha in sorted(todo):
                ctx.documents.delete_if_unreferenced(fresh, sha)

    def _after_soft_rollback(sess: Session, previous) -> None:
        if not previous.nested:
            sess.info.pop(_FILES_KEY, None)

    event.listen(session, "after_commit", _after_commit)
    event.listen(session, "after_soft_rollback", _after_soft_rollback)


# -- messages that quote a person ----------------------------------------------------------------


def quoting_messages(session: Session, participant_ids: Sequence[int]) -> tuple[list[int], list[int]]:
    """(alert ids, outbox ids) of the alerts and messages that may quote these persons.

    Alerts about a candidature quote the candidate's name; the messages sent for it (decision,
    alert pushes) are found by their dedup keys (`candidature:<id>:...`, `alert:<id>:...`).
    """
    if not participant_ids:
        return [], []
    ids = list(participant_ids)
    cand_ids = list(session.scalars(select(Candidature.id).where(Candidature.participant_id.in_(ids))))
    alert_ids = list(session.scalars(select(Alert.id).where(
        or_(
            (Alert.subject_type == "participant") & Alert.subject_id.in_(ids),
            (Alert.subject_type == "candidature") & Alert.subject_id.in_(cand_ids or [-1]),
        )
    )))
    patterns = [f"candidature:{c}:%" for c in cand_ids] + [f"alert:{a}:%" for a in alert_ids]
    outbox_ids: list[int] = []
    for first in range(0, len(patterns), 200):
        chunk = patterns[first:first + 200]
        outbox_ids += session.scalars(
            select(OutboxMessage.id).where(or_(*(OutboxMessage.dedup_key.like(p) for p in chunk)))
        )
    return alert_ids, outbox_ids


def scrub_messages(session: Session, participant_ids: Sequence[int]) -> tuple[int, int]:
    """Blank the alerts and outbox messages that quote these persons; (alerts, messages).

    Pending messages are cancelled rather than sent blank.
    """
    alert_ids, outbox_ids = quoting_messages(session, participant_ids)
    if alert_ids:
        session.execute(
            update(Alert).where(Alert.id.in_(alert_ids)).values(message=REDACTED_FR),
            execution_options={"synchronize_session": "fetch"},
        )
    if outbox_ids:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(outbox_ids), OutboxMessage.subject.is_not(None))
            .values(subject="[clausebot] message retiré (RGPD)"),
            execution_options={"synchronize_session": "fetch"},
        )
        session.execute(
            update(OutboxMessage).where(OutboxMessage.id.in_(outbox_ids))
            .values(body_text=REDACTED_FR, body_html=None, reply_markup=None),
            execution_options={"synchronize_session": "fetch"},
        )
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(outbox_ids),
                   OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]))
            .values(status=OutboxStatus.DEAD, last_error=CANCELLED_FR),
            execution_options={"synchronize_session": "fetch"},
        )
    return len(alert_ids), len(outbox_ids)


# -- anonymisation -------------------------------------------------------------------------------


def generalised_birth_date(birth: dt.date | None, reference_dates: Iterable[dt.date | None]
                           ) -> dt.date | None:
    """The birth year, with day and month replaced by the coarsest value that changes no age.

    Ages are computed as `year difference - 1 if the birthday is not reached yet`. Keeping only
    the year would move a person between age bands (25 at a contract start becomes 26). Here the
    day and month become the day after the latest reference anniversary strictly before the real
    birthday (1 January when there is none): every age at a reference date (contract starts,
    entry, exit) stays exact, and the real birthday is no longer stored.
    """
    if birth is None:
        return None
    real = (birth.month, birth.day)
    before = [(d.month, d.day) for d in reference_dates if d is not None and (d.month, d.day) < real]
    if not before:
        return dt.date(birth.year, 1, 1)
    month, day = max(before)
    if (month, day) == (2, 29):  # the birth year is not a leap year: 29/02 cannot exist in it
        return dt.date(birth.year, 3, 1)
    return dt.date(birth.year, month, day) + dt.timedelta(days=1)


def _reference_dates(session: Session, ids: Sequence[int]) -> dict[int, list[dt.date]]:
    refs: dict[int, list[dt.date]] = {i: [] for i in ids}
    rows = session.execute(
        select(Contract.participant_id, Contract.start_date, Contract.end_date)
        .where(Contract.participant_id.in_(ids))
    )
    for pid, start, end in rows:
        refs[pid] += [start] + ([end] if end else [])
    return refs


@dataclass
class AnonymisationResult:
    participant_ids: list[int] = field(default_factory=list)
    documents_deleted: int = 0
    candidatures_scrubbed: int = 0
    alerts_scrubbed: int = 0
    messages_scrubbed: int = 0
    files: list[str] = field(default_factory=list)


def anonymise_participants(ctx: Context, session: Session, actor: Actor,
                           participant_ids: Iterable[int], *, reason: str) -> AnonymisationResult:
    """Make these persons unidentifiable while every figure of every bilan stays the same.

    Kept: gender, generalised birth date (year + age-preserving day, see
    :func:`generalised_birth_date`), commune and QPV flag (bilans report the place of residence),
    status at entry, entry/exit dates and exit situation, prescriber, contracts, hours, criteria.
    Removed: names (replaced by "ANONYME n° <id>"), real birthday, e-mail, phone, pool consent,
    free texts of candidatures, every document (CV, proofs, payslips), names quoted in alerts
    and messages.
    """
    authorize(session, actor, Action.RGPD)
    ids = sorted(set(participant_ids))
    people = list(session.scalars(
        select(Participant).where(Participant.id.in_(ids or [-1]), Participant.anonymised_at.is_(None))
    ))
    ids = [p.id for p in people]
    result = AnonymisationResult(participant_ids=ids)
    if not ids:
        return result
    now = ctx.clock.now()
    refs = _reference_dates(session, ids)
    for p in people:
        p.birth_date = generalised_birth_date(
            p.birth_date, [*refs[p.id], p.first_entry_date, p.exit_date]
        )
        p.last_name = ANONYMOUS_LAST_NAME
        p.first_name = f"n° {p.id}"
        p.email = None
        p.phone = None
        p.pool_consent_at = None
        p.anonymised_at = now
    doc_ids = participant_document_ids(session, ids)
    result.documents_deleted = len(doc_ids)
    result.files = delete_documents(ctx, session, doc_ids)
    result.candidatures_scrubbed = session.execute(
        update(Candidature).where(Candidature.participant_id.in_(ids))
        .values(message=None, refusal_reason=None),
        execution_options={"synchronize_session": "fetch"},
    ).rowcount
    result.alerts_scrubbed, result.messages_scrubbed = scrub_messages(session, ids)
    session.add_all(
        participant_audit_row(actor, "participant.anonymise", pid, reason=reason) for pid in ids
    )
    session.flush()
    return result


def participant_audit_row(actor: Actor, action: str, participant_id: int, **detail: Any
                          ) -> AuditEntry:
    """One audit row per person, so `clausebot audit --participant N` finds bulk operations."""
    return AuditEntry(
        actor_user_id=actor.user_id, actor_label=(actor.label or "?")[:254], channel=actor.channel,
        action=action, subject_type="participant", subject_id=participant_id,
        detail={k: v for k, v in detail.items() if v is not None},
    )


def delete_participants(ctx: Context, session: Session, participant_ids: Sequence[int]) -> list[str]:
    """Delete persons who have no contract, with everything that hangs off them.

    Used for an erasure when nothing must survive and for rejected candidates at the end of
    their retention. Returns the SHA-256 of the deleted documents.
    """
    ids = sorted(set(participant_ids))
    if not ids:
        return []
    if session.scalar(select(Contract.id).where(Contract.participant_id.in_(ids)).limit(1)):
        raise ValueError("persons with contracts are anonymised, never deleted")
    scrub_messages(session, ids)
    shas = delete_documents(ctx, session, participant_document_ids(session, ids))
    for model in (Eligibility, Candidature, Participant):
        column = model.id if model is Participant else model.participant_id
        session.execute(delete(model).where(column.in_(ids)),
                        execution_options={"synchronize_session": "fetch"})
    session.flush()
    return shas


# -- erasure (art. 17) -----------------------------------------------------------------------------


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


def _existing_participant(session: Session, participant_id: int) -> Participant:
    person = session.get(Participant, participant_id)
    if person is None:
        raise NotAllowed()
    return person


def _count(session: Session, q) -> int:
    return int(session.scalar(select(func.count()).select_from(q.subquery())) or 0)


def erasure_plan(ctx: Context, session: Session, actor: Actor, participant_id: int) -> ErasurePlan:
    authorize(session, actor, Action.RGPD, "participant", participant_id)
    person = _existing_participant(session, participant_id)
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
    if plan.deletes_row:
        shas = delete_participants(ctx, session, [pid])
    else:
        person = _existing_participant(session, pid)
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
    return ErasureResult(plan=plan, row_deleted=plan.deletes_row, files=shas)


# -- export (art. 15 / 20) -------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value


def _row(obj: Any, *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every column of a row: an export must not forget a field added later."""
    return {
        attr.key: _jsonable(getattr(obj, attr.key))
        for attr in inspect(obj).mapper.column_attrs
        if attr.key not in skip
    }


@dataclass(frozen=True)
class ExportedDocument:
    document_id: int
    filename: str
    mime_type: str
    content: bytes | None  # None when the file is missing from the store


@dataclass
class SubjectExport:
    participant_id: int
    data: dict[str, Any]
    documents: list[ExportedDocument]

    def to_json(self) -> str:
        return json.dumps(self.data, ensure_ascii=False, indent=2, default=_jsonable)


def _extension(mime: str) -> str:
    return {"application/pdf": ".pdf", "image/png": ".png", "image/jpeg": ".jpg",
            "message/rfc822": ".eml", "text/plain": ".txt", "text/csv": ".csv"}.get(
        mime, mimetypes.guess_extension(mime) or ".bin")


def participant_subjects(session: Session, participant_id: int) -> list[tuple[str, list[int]]]:
    """(subject_type, ids) pairs under which the audit log records things about a person."""
    pid = participant_id
    contracts = list(session.scalars(select(Contract.id).where(Contract.participant_id == pid)))
    return [
        ("participant", [pid]),
        ("candidature", list(session.scalars(select(Candidature.id).where(Candidature.participant_id == pid)))),
        ("contract", contracts),
        ("declaration", list(session.scalars(
            select(HourDeclaration.id).where(HourDeclaration.contract_id.in_(contracts or [-1]))))),
    ]


def _audit_about(subjects: list[tuple[str, list[int]]]):
    return or_(*(
        (AuditEntry.subject_type == kind) & AuditEntry.subject_id.in_(ids)
        for kind, ids in subjects if ids
    ))


def export_participant(ctx: Context, session: Session, actor: Actor, participant_id: int
                       ) -> SubjectExport:
    """Everything stored about one person, and the documents' contents."""
    authorize(session, actor, Action.RGPD, "participant", participant_id)
    person = _existing_participant(session, participant_id)
    pid = person.id
    contracts = session.execute(
        select(Contract, Company.name, Market.reference, Lot.number)
        .join(Engagement, Engagement.id == Contract.engagement_id)
        .join(Company, Company.id == Engagement.company_id)
        .join(Lot, Lot.id == Engagement.lot_id)
        .join(Market, Market.id == Lot.market_id)
        .where(Contract.participant_id == pid).order_by(Contract.start_date)
    ).all()
    contract_ids = [c.id for c, *_ in contracts]
    declarations = list(session.scalars(
        select(HourDeclaration).where(HourDeclaration.contract_id.in_(contract_ids or [-1]))
        .order_by(HourDeclaration.contract_id, HourDeclaration.month)
    ))
    revisions = list(session.scalars(
        select(DeclarationRevision)
        .where(DeclarationRevision.declaration_id.in_([d.id for d in declarations] or [-1]))
        .order_by(DeclarationRevision.declaration_id, DeclarationRevision.revision)
    ))
    candidatures = list(session.scalars(
        select(Candidature).where(Candidature.participant_id == pid).order_by(Candidature.id)))
    doc_ids = participant_document_ids(session, [pid])
    docs = list(session.scalars(select(Document).where(Document.id.in_(doc_ids or [-1]))
                                .order_by(Document.id)))
    subjects = participant_subjects(session, pid)
    cand_ids = [c.id for c in candidatures]
    alerts = list(session.scalars(select(Alert).where(or_(
        (Alert.subject_type == "participant") & (Alert.subject_id == pid),
        (Alert.subject_type == "candidature") & Alert.subject_id.in_(cand_ids or [-1]),
    )).order_by(Alert.id)))
    log = list(session.scalars(select(AuditEntry).where(_audit_about(subjects))
                               .order_by(AuditEntry.at, AuditEntry.id)))
    exported: list[ExportedDocument] = []
    doc_rows = []
    for d in docs:
        name = f"documents/{d.id}-{d.kind}{_extension(d.mime_type)}"
        try:
            content: bytes | None = ctx.documents.read(d)
        except (FileNotFoundError, ValueError):
            content = None
        exported.append(ExportedDocument(d.id, name, d.mime_type, content))
        doc_rows.append({**_row(d), "fichier": name if content is not None else None})
    data = {
        "export": {
            "genere_le": ctx.clock.now().isoformat(),
            "responsable": ctx.policy.agency_name,
            "contact": ctx.policy.agency_email,
            "personne_n": pid,
            "note": (
                "Toutes les données enregistrées sur la personne (RGPD art. 15 et 20). Les "
                "heures sont celles déclarées par l'employeur ; le journal d'accès dit qui a "
                "consulté ou modifié ces données, quand et par quel canal."
            ),
        },
        "personne": _row(person),
        "eligibilites": [_row(e) for e in session.scalars(
            select(Eligibility).where(Eligibility.participant_id == pid).order_by(Eligibility.id))],
        "candidatures": [_row(c) for c in candidatures],
        "contrats": [
            {**_row(c), "entreprise": company, "marche": ref, "lot": lot}
            for c, company, ref, lot in contracts
        ],
        "declarations_heures": [_row(d) for d in declarations],
        "revisions_declarations": [_row(r, skip=("idempotency_key",)) for r in revisions],
        "documents": doc_rows,
        "alertes": [_row(a, skip=("dedup_key",)) for a in alerts],
        "journal_acces": [_row(e) for e in log],
    }
    audit.record(session, actor, "rgpd.export", "participant", pid, documents=len(exported))
    return SubjectExport(participant_id=pid, data=data, documents=exported)


def write_export(export: SubjectExport, target: Path) -> Path:
    """Write the export as `<target>.zip` (when the name ends in .zip) or into a new directory.

    Files are private to the operator (0600/0700): they hold someone's personal data.
    """
    target = Path(target)
    json_name = f"personne-{export.participant_id}.json"
    if target.suffix.lower() == ".zip":
        if target.exists():
            raise DomainError(f"{target} existe déjà : choisissez un autre nom.")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(json_name, export.to_json())
            for doc in export.documents:
                if doc.content is not None:
                    zf.writestr(doc.filename, doc.content)
        return target
    if target.exists() and any(target.iterdir()):
        raise DomainError(f"Le dossier {target} n'est pas vide : choisissez un autre dossier.")
    (target / "documents").mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(target, 0o700)
    _write_private(target / json_name, export.to_json().encode("utf-8"))
    for doc in export.documents:
        if doc.content is not None:
            _write_private(target / doc.filename, doc.content)
    return target


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


# -- audit log queries -----------------------------------------------------------------------------


def query_audit(
    session: Session,
    actor: Actor,
    *,
    participant_id: int | None = None,
    actor_filter: str | None = None,
    since: dt.datetime | None = None,
    limit: int = 200,
) -> list[AuditEntry]:
    """Audit entries, newest first; about one person (and their candidatures, contracts,
    declarations), by one actor (user id or part of the label), since a moment."""
    authorize(session, actor, Action.AUDIT_READ)
    q = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    if participant_id is not None:
        q = q.where(_audit_about(participant_subjects(session, participant_id)))
    if actor_filter:
        text = actor_filter.strip()
        cond = func.lower(AuditEntry.actor_label).contains(text.lower(), autoescape=True)
        if text.isdigit():
            cond = cond | (AuditEntry.actor_user_id == int(text))
        q = q.where(cond)
    if since is not None:
        q = q.where(AuditEntry.at >= since)
    rows = list(session.scalars(q))
    audit.record(session, actor, "audit.read", "participant" if participant_id else "audit_log",
                 participant_id, actor_filter=actor_filter,
                 since=since.isoformat() if since else None, count=len(rows))
    return rows


# -- documentation -----------------------------------------------------------------------------------


_SCOPE_LABELS = {
    "fr": {"all": "tout", "own_company": "son entreprise", "own_donneur": "son donneur d'ordre",
           "own_prescriber": "ses candidats", "none": "—"},
    "en": {"all": "all", "own_company": "own company", "own_donneur": "own donneur",
           "own_prescriber": "own candidates", "none": "—"},
}


def matrix_markdown(lang: str = "en") -> str:
    """The authorization matrix as a Markdown table, generated from `clauses.authz.MATRIX`.

    docs/privacy.md embeds the English table (a test keeps them equal); `clausebot rgpd
    matrice` prints the French one.
    """
    labels = _SCOPE_LABELS[lang]
    roles = list(Role)
    head = "| action | " + " | ".join(r.value for r in roles) + " |"
    sep = "|---" * (len(roles) + 1) + "|"
    rows = [
        f"| `{action.value}` | "
        + " | ".join(labels[MATRIX[action].get(r, "none")] for r in roles) + " |"
        for action in MATRIX
    ]
    return "\n".join([head, sep, *rows])


def stringify_json_column(column):
    """A JSON column as text, comparable on SQLite and PostgreSQL (PG `json` has no `=`)."""
    return cast(column, String)
