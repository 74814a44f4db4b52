"""Export (GDPR art. 15 and 20): everything about the person, as JSON plus the stored documents."""

from __future__ import annotations

import datetime as dt
import json
import mimetypes
import os
import zipfile
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, or_, select
from sqlalchemy.orm import Session

from clauses import audit
from clauses.actors import Actor
from clauses.authz import Action, authorize
from clauses.context import Context
from clauses.errors import DomainError
from clauses.rgpd.document_removal import participant_document_ids
from clauses.rgpd.mentions import mentions_of
from clauses.rgpd.message_scrub import quoting_messages
from clauses.rgpd.subjects import audit_about, existing_participant, participant_subjects
from storage.models import (
    Alert,
    AuditEntry,
    Candidature,
    Company,
    Contract,
    DeclarationRevision,
    Document,
    Eligibility,
    Engagement,
    ExitFollowup,
    HourDeclaration,
    Lot,
    Market,
    OutboxMessage,
)


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


def export_participant(ctx: Context, session: Session, actor: Actor, participant_id: int
                       ) -> SubjectExport:
    """Everything stored about one person, and the documents' contents."""
    authorize(session, actor, Action.RGPD, "participant", participant_id)
    person = existing_participant(session, participant_id)
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
    mentioned = mentions_of(ctx, session, [pid])
    _, quoting_outbox = quoting_messages(session, [pid])
    alerts = list(session.scalars(select(Alert).where(or_(
        (Alert.subject_type == "participant") & (Alert.subject_id == pid),
        (Alert.subject_type == "candidature") & Alert.subject_id.in_(cand_ids or [-1]),
        Alert.id.in_(mentioned.alert_ids or [-1]),
    )).order_by(Alert.id)))
    messages = list(session.scalars(
        select(OutboxMessage).where(OutboxMessage.id.in_(
            sorted({*mentioned.outbox_ids, *quoting_outbox}) or [-1]))
        .order_by(OutboxMessage.id)))
    raw_ids = [m.raw_document_id for m in mentioned.mails if m.raw_document_id is not None]
    docs += [d for d in session.scalars(select(Document).where(Document.id.in_(raw_ids or [-1])))
             if d.id not in doc_ids]
    log = list(session.scalars(select(AuditEntry).where(audit_about(subjects))
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
                "Toutes les données enregistrées sur la personne (RGPD art. 15 et 20), y compris "
                "les e-mails reçus et envoyés qui la concernent. Les "
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
        "sorties_suivi": [_row(r) for r in session.scalars(
            select(ExitFollowup).where(ExitFollowup.participant_id == pid).order_by(ExitFollowup.id))],
        "revisions_declarations": [_row(r, skip=("idempotency_key",)) for r in revisions],
        "documents": doc_rows,
        "alertes": [_row(a, skip=("dedup_key",)) for a in alerts],
        "emails_recus": [_row(m, skip=("account", "uidvalidity", "uid")) for m in mentioned.mails],
        "messages_envoyes": [_row(m, skip=("dedup_key", "reply_markup", "headers"))
                             for m in messages],
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
