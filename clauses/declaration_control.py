"""The facilitator's control of declared hours: validate, or contest with a reason.

The seed gives the agency the « centralisation des documents justificatifs attestant de la bonne
réalisation des engagements »: a declaration is the company's word until the facilitator has
checked it against the proofs. Each declaration is therefore « à contrôler » (ENREGISTREE) when
it is entered or corrected, then VALIDEE or CONTESTEE by a facilitator. A contest tells the
company (chat if it has an account, else e-mail, through the outbox in the same transaction)
the reason and the two ways out: correct the hours (a new revision, back to « à contrôler »:
:func:`status_after_correction`) or send the proof. Every decision is audited.

Contested hours still count in the bilans (shown « dont X h contestées »): see docs/domain.md.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from clauses import audit
from clauses.actors import Actor
from clauses.alerts import keyboard, raise_alert
from clauses.authz import Action, NotAllowed, authorize, scope_engagements
from clauses.context import Context
from clauses.declaring.lookup import joined_to_market
from clauses.errors import DomainError
from clauses.formatting import fr_hours, fr_month
from clauses.outbox import enqueue_chat, enqueue_email
from storage.models import (
    AlertKind,
    AuditEntry,
    Company,
    Contract,
    DeclarationStatus,
    Engagement,
    HourDeclaration,
    Lot,
    Market,
    Participant,
    User,
)

REASON_MIN, REASON_MAX = 3, 300
LIST_LIMIT = 30
"""Most company-months listed at once (the oldest first: they are the most urgent)."""


class ControlError(DomainError):
    """A control refused: stale revision, wrong state, missing reason."""

    code = "declaration_control"


def status_after_correction() -> DeclarationStatus:
    """The status a corrected declaration takes, whatever it had: back to « à contrôler ».

    The one place the correction paths (:func:`clauses.declarations.record_declaration` and the
    file batch) ask, so a validated month that the company changes is checked again, and a
    contested one that it corrects comes back to the facilitator.
    """
    return DeclarationStatus.ENREGISTREE


@dataclass(frozen=True)
class PendingMonth:
    """One company's declarations of one month awaiting control."""

    company_id: int
    company_name: str
    month: dt.date
    markets: str
    lines: int
    counted_hours: Decimal
    contested: int


@dataclass(frozen=True)
class ControlLine:
    """One declaration as the facilitator checks it."""

    declaration_id: int
    revision: int
    status: DeclarationStatus
    company_id: int
    company_name: str
    participant_name: str
    market_reference: str
    lot_number: int
    month: dt.date
    work_hours: Decimal
    training_hours: Decimal
    counted_hours: Decimal
    control_reason: str | None
    has_proof: bool

    @property
    def label(self) -> str:
        return (f"n° {self.declaration_id} {self.participant_name} — {fr_month(self.month)} — "
                f"marché {self.market_reference} lot {self.lot_number} : "
                f"{fr_hours(self.work_hours)} de travail, {fr_hours(self.training_hours)} de "
                f"formation → {fr_hours(self.counted_hours)} comptées"
                + (f" (révision {self.revision})" if self.revision > 1 else "")
                + (" — justificatif joint" if self.has_proof else ""))


PROOF_TAG = re.compile(r"\[d[ée]claration n[°o]\s*(\d+)\]", re.IGNORECASE)
"""The tag the contest e-mail's subject ends with: a reply carrying a file is that proof."""

STATUS_FR = {DeclarationStatus.ENREGISTREE: "à contrôler", DeclarationStatus.VALIDEE: "validée",
             DeclarationStatus.CONTESTEE: "contestée"}


def _line_query():
    return (
        joined_to_market(
            select(HourDeclaration, Participant.last_name, Participant.first_name,
                   Market.reference, Lot.number, Company.id, Company.name)
            .join(Contract, Contract.id == HourDeclaration.contract_id), company=True)
    )


def _line(row) -> ControlLine:
    d, last, first, reference, lot_number, company_id, company_name = row
    return ControlLine(
        declaration_id=d.id, revision=d.revision, status=d.status, company_id=company_id,
        company_name=company_name, participant_name=f"{last.upper()} {first}".strip(),
        market_reference=reference, lot_number=lot_number, month=d.month,
        work_hours=d.work_hours, training_hours=d.training_hours, counted_hours=d.counted_hours,
        control_reason=d.control_reason, has_proof=d.proof_document_id is not None,
    )


def _filters(market_reference: str | None, company_id: int | None,
             month: dt.date | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if market_reference:
        where.append(Market.reference == market_reference.strip())
    if company_id is not None:
        where.append(Engagement.company_id == company_id)
    if month is not None:
        where.append(HourDeclaration.month == month.replace(day=1))
    return where


def pending_months(session: Session, actor: Actor, *, market_reference: str | None = None,
                   company_id: int | None = None, month: dt.date | None = None,
                   limit: int = LIST_LIMIT) -> list[PendingMonth]:
    """Company-months with declarations awaiting control (and how many of them are contested,
    waiting for the company), oldest first."""
    authorize(session, actor, Action.DECLARATION_CONTROL)
    open_ = HourDeclaration.status.in_([DeclarationStatus.ENREGISTREE, DeclarationStatus.CONTESTEE])
    pending = func.sum(case((HourDeclaration.status == DeclarationStatus.ENREGISTREE, 1), else_=0))
    q = (
        select(Company.id, Company.name, HourDeclaration.month,
               func.min(Market.reference), func.max(Market.reference),
               func.count(HourDeclaration.id), func.sum(HourDeclaration.counted_hours), pending)
        .select_from(HourDeclaration)
        .join(Contract, Contract.id == HourDeclaration.contract_id)
        .join(Engagement, Engagement.id == Contract.engagement_id)
        .join(Company, Company.id == Engagement.company_id)
        .join(Lot, Lot.id == Engagement.lot_id)
        .join(Market, Market.id == Lot.market_id)
        .where(open_, *_filters(market_reference, company_id, month))
        .group_by(Company.id, Company.name, HourDeclaration.month)
        .order_by(HourDeclaration.month, Company.name)
        .limit(limit)
    )
    out = []
    for cid, name, m, first_ref, last_ref, count, counted, awaiting in session.execute(q):
        out.append(PendingMonth(
            company_id=cid, company_name=name, month=m,
            markets=first_ref if first_ref == last_ref else f"{first_ref}…{last_ref}",
            lines=int(awaiting or 0), counted_hours=Decimal(counted or 0),
            contested=int(count) - int(awaiting or 0)))
    return out


def month_lines(session: Session, actor: Actor, company_id: int, month: dt.date, *,
                market_reference: str | None = None) -> list[ControlLine]:
    """The company-month's declarations awaiting control or contested, by person."""
    authorize(session, actor, Action.DECLARATION_CONTROL)
    q = _line_query().where(
        HourDeclaration.status.in_([DeclarationStatus.ENREGISTREE, DeclarationStatus.CONTESTEE]),
        *_filters(market_reference, company_id, month),
    ).order_by(Participant.last_name, Participant.first_name, HourDeclaration.id)
    lines = [_line(r) for r in session.execute(q)]
    audit.record(session, actor, "declarations.control_list", "company", company_id,
                 month=month.isoformat(), count=len(lines))
    return lines


def _load(session: Session, actor: Actor, declaration_id: int) -> tuple[HourDeclaration, ControlLine]:
    authorize(session, actor, Action.DECLARATION_CONTROL)
    row = session.execute(
        _line_query().where(HourDeclaration.id == declaration_id).with_for_update(of=HourDeclaration)
    ).one_or_none()
    if row is None:
        raise NotAllowed()
    return row[0], _line(row)


def _check_revision(line: ControlLine, revision: int | None) -> None:
    """The facilitator decides on the figures they saw: a correction since then is news."""
    if revision is not None and revision != line.revision:
        raise ControlError(
            f"La déclaration n° {line.declaration_id} a été corrigée entre-temps (révision "
            f"{line.revision} : {fr_hours(line.work_hours)} de travail, "
            f"{fr_hours(line.training_hours)} de formation) : rien n'a été enregistré. Revoyez "
            "les nouvelles heures (/controle) avant de décider.")


def validate(ctx: Context, session: Session, actor: Actor, declaration_id: int, *,
             revision: int | None = None) -> ControlLine:
    """Validate one declaration (awaiting control or contested: the proof may have come on
    paper). Validating a validated one again is a no-op."""
    decl, line = _load(session, actor, declaration_id)
    _check_revision(line, revision)
    if decl.status == DeclarationStatus.VALIDEE:
        return line
    _mark(ctx, session, actor, decl, DeclarationStatus.VALIDEE, None)
    return _line_after(line, DeclarationStatus.VALIDEE, None)


def validate_month(ctx: Context, session: Session, actor: Actor, company_id: int, month: dt.date,
                   *, market_reference: str | None = None) -> list[ControlLine]:
    """Validate every line of the company-month awaiting control (contested ones stay
    contested: they wait for the company's correction or proof)."""
    authorize(session, actor, Action.DECLARATION_CONTROL)
    q = _line_query().where(
        HourDeclaration.status == DeclarationStatus.ENREGISTREE,
        *_filters(market_reference, company_id, month),
    ).order_by(Participant.last_name, Participant.first_name, HourDeclaration.id)
    done = []
    for row in session.execute(q.with_for_update(of=HourDeclaration)).all():
        _mark(ctx, session, actor, row[0], DeclarationStatus.VALIDEE, None)
        done.append(_line_after(_line(row), DeclarationStatus.VALIDEE, None))
    return done


def read_reason(text: str) -> str:
    """The contest's reason, as the company will read it: a few words, one short paragraph."""
    reason = " ".join(text.split())
    if len(reason) < REASON_MIN:
        raise ControlError("Indiquez le motif de la contestation en quelques mots (ex. « heures "
                           "supérieures au bulletin de paie »), il est envoyé à l'entreprise.")
    if len(reason) > REASON_MAX:
        raise ControlError(f"Motif trop long ({len(reason)} caractères ; {REASON_MAX} au "
                           "maximum) : résumez-le, l'entreprise le lit sur son téléphone.")
    return reason


def contest(ctx: Context, session: Session, actor: Actor, declaration_id: int, reason: str, *,
            revision: int | None = None) -> tuple[ControlLine, int]:
    """Contest one declaration with a reason and tell the company; returns the line and the
    number of messages queued."""
    reason = read_reason(reason)
    decl, line = _load(session, actor, declaration_id)
    _check_revision(line, revision)
    if decl.status == DeclarationStatus.CONTESTEE:
        raise _already_contested(line, decl.control_reason)
    _mark(ctx, session, actor, decl, DeclarationStatus.CONTESTEE, reason)
    after = _line_after(line, DeclarationStatus.CONTESTEE, reason)
    return after, _tell_company(session, decl, after)


def check_contestable(session: Session, actor: Actor, declaration_id: int, revision: int | None) -> None:
    """Refuse at once (before the reason is typed) what :func:`contest` would refuse."""
    decl, line = _load(session, actor, declaration_id)
    _check_revision(line, revision)
    if decl.status == DeclarationStatus.CONTESTEE:
        raise _already_contested(line, decl.control_reason)


def _already_contested(line: ControlLine, reason: str | None) -> ControlError:
    return ControlError(
        f"La déclaration n° {line.declaration_id} est déjà contestée (motif : « {reason} ») ; "
        "l'entreprise a été prévenue. Attendez sa correction ou son justificatif, ou validez-la.")


def _mark(ctx: Context, session: Session, actor: Actor, decl: HourDeclaration,
          status: DeclarationStatus, reason: str | None) -> None:
    before = decl.status
    decl.status = status
    decl.control_reason = reason
    decl.controlled_at = ctx.clock.now()
    action = "declaration.validated" if status == DeclarationStatus.VALIDEE else "declaration.contested"
    audit.record(session, actor, action, "declaration", decl.id, revision=decl.revision,
                 before=before.value, reason=reason)


def _line_after(line: ControlLine, status: DeclarationStatus, reason: str | None) -> ControlLine:
    return ControlLine(**{**line.__dict__, "status": status, "control_reason": reason})


def _tell_company(session: Session, decl: HourDeclaration, line: ControlLine) -> int:
    """Chat accounts of the company with a « Corriger » button, else its addresses and the
    address the declaration came from; in the caller's transaction, once per revision."""
    from clauses.reminders import company_recipients  # reminders -> due -> bilan -> this module

    company_id = line.company_id
    if decl.declared_by_user_id is not None:  # a carrying SIAE/GEIQ/ETTI declared: tell it
        company_id = session.scalar(select(User.company_id).where(User.id == decl.declared_by_user_id)) \
            or company_id
    text = (f"❗ Votre déclaration de {line.participant_name} pour {fr_month(line.month)} (marché "
            f"{line.market_reference} lot {line.lot_number} : {fr_hours(line.work_hours)} de "
            f"travail, {fr_hours(line.training_hours)} de formation) est contestée par la·le "
            f"facilitateur·rice.\nMotif : « {line.control_reason} »\n"
            "Pour la régulariser, corrigez les heures (elles repartent en contrôle) ou envoyez le "
            "justificatif (bulletin de paie, attestation de formation) à votre facilitateur·rice "
            f"en citant « déclaration n° {line.declaration_id} ». En attendant, ces heures "
            "apparaissent comme contestées dans le bilan.")
    # One notice per contest: a second contest of the same revision (the proof did not
    # settle it) is news too, hence the contest's number (its audit entries) in the key.
    session.flush()
    nth = session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "declaration.contested", AuditEntry.subject_type == "declaration",
        AuditEntry.subject_id == decl.id))
    key = f"declaration:{decl.id}:r{decl.revision}:contested:{nth}"
    recipients = company_recipients(session, [company_id])[company_id]
    chats = [r for r in recipients if r.user_id is not None and r.chat_id is not None]
    if chats:
        markup = keyboard([[("✏️ Corriger", f"mc:{decl.id}"),
                            ("📎 Envoyer le justificatif", f"pj:{decl.id}")]])
        for r in chats:
            enqueue_chat(session, dedup_key=f"{key}:{r.tag}", user_id=r.user_id, chat_id=r.chat_id,
                         text=text + " Corrigez, ou envoyez le justificatif (photo ou PDF), avec "
                         "les boutons ci-dessous.",
                         reply_markup=markup)
        return len(chats)
    addresses = {r.email: r.tag for r in recipients if r.email}
    if decl.declared_by_email:
        addresses.setdefault(decl.declared_by_email.strip().lower(), "d")
    for email, tag in addresses.items():
        enqueue_email(session, dedup_key=f"{key}:{tag}", to=email,
                      subject=f"Déclaration contestée : {line.participant_name}, {fr_month(line.month)} "
                      f"[déclaration n° {decl.id}]",
                      text=text + " Par e-mail : répondez à ce message en joignant le justificatif "
                      "(PDF ou photo), ou renvoyez le tableau de déclaration avec la ligne corrigée "
                      "et une « raison de correction ».")
    return len(addresses)


def attach_proof(ctx: Context, session: Session, actor: Actor, declaration_id: int, data: bytes,
                 *, display_name: str | None, mime_type: str | None = None,
                 max_bytes: int | None = None) -> ControlLine:
    """Store the company's proof (payslip, training certificate) as the declaration's proof.

    A contested declaration goes back to « à contrôler » (its contest reason kept, so the
    facilitator sees what the proof answers) and the facilitator in charge is alerted with a
    « Valider » button; a validated one stays validated. The file is tied to the person, so an
    RGPD erasure takes it too. Raises ``DocumentRejected`` (a French message) for a file of the
    wrong type or size, and NotAllowed for another company's declaration.
    """
    authorize(session, actor, Action.DECLARATION_WRITE, "declaration", declaration_id)
    row = session.execute(
        _line_query().add_columns(Contract.participant_id, Company.facilitator_id)
        .where(HourDeclaration.id == declaration_id).with_for_update(of=HourDeclaration)
    ).one_or_none()
    if row is None:
        raise NotAllowed()
    decl, line = row[0], _line(row[:7])
    participant_id, facilitator_id = row[7], row[8]
    doc = ctx.documents.store(session, data, kind="proof", display_name=display_name,
                              mime_type=mime_type, participant_id=participant_id,
                              max_bytes=max_bytes)
    before = decl.status
    decl.proof_document_id = doc.id
    if before == DeclarationStatus.CONTESTEE:
        decl.status = DeclarationStatus.ENREGISTREE
    audit.record(session, actor, "declaration.proof_attached", "declaration", decl.id,
                 document_id=doc.id, revision=decl.revision, before=before.value)
    after = ControlLine(**{**line.__dict__, "status": decl.status, "has_proof": True})
    if before != DeclarationStatus.VALIDEE:
        raise_alert(session, kind=AlertKind.AUTRE, facilitator_id=facilitator_id,
                    subject_type="declaration", subject_id=decl.id,
                    dedup_key=f"declaration:{decl.id}:proof:{doc.id}",
                    message=f"Justificatif reçu de {line.company_name} pour la déclaration {after.label}"
                    + (f" (contestée : « {decl.control_reason} »)" if decl.control_reason else "")
                    + ". Contrôlez-la : /controle.",
                    buttons=[[("✅ Valider", f"ctl:v:{decl.id}:{decl.revision}")]])
    return after


def contested_hours(session: Session, engagement_filter: ColumnElement[bool], *,
                    start: dt.date | None = None, end: dt.date) -> dict[int, Decimal]:
    """Counted hours under contest per engagement, for months in ``[start, end]`` (the figure
    the bilans and /avancement print as « dont X h contestées »)."""
    q = (
        select(Contract.engagement_id, func.sum(HourDeclaration.counted_hours))
        .join(HourDeclaration, HourDeclaration.contract_id == Contract.id)
        .where(HourDeclaration.status == DeclarationStatus.CONTESTEE, HourDeclaration.month <= end,
               Contract.engagement_id.in_(select(Engagement.id).where(engagement_filter)
                                          .correlate(None)))
        .group_by(Contract.engagement_id)
    )
    if start is not None:
        q = q.where(HourDeclaration.month >= start)
    return {eid: Decimal(h) for eid, h in session.execute(q) if h}


def contested_for_actor(session: Session, actor: Actor, at: dt.date) -> dict[int, Decimal]:
    """Contested hours per engagement the actor may read, through ``at`` (for /avancement,
    beside the done hours that include them)."""
    return contested_hours(session, scope_engagements(actor, Action.ENGAGEMENT_READ), end=at)
