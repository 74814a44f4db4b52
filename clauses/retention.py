"""Retention: what is kept how long, and the purge that enforces it (dry run first).

Defaults come from DOMAIN.md ("Personal data") and live in :class:`clauses.context.Policy`:

* rejected candidates (every candidature refused, no contract, no validated criterion): deleted
  `retention_rejected_months` (3) after the refusal. A refused candidature of someone who is
  followed anyway only loses its contents (message, reason, claimed criteria, CV);
* participants: anonymised `retention_inactive_months` (24) after their last activity (last
  declaration or decision, end of their last contract, last candidature); never while a contract
  is still running;
* eligibility proofs (files): deleted `retention_proof_months` (24) after the validation; a proof
  document nobody validated goes 24 months after it was received. The validated criterion (who,
  when) stays: it is what the clause needs;
* raw e-mails: the stored message is deleted `retention_raw_mail_days` (90) after it was
  processed; the intake's bookkeeping row (sender, status, UID, Message-ID) stays so nothing is
  read twice, but its subject and processing notes (which may quote a candidate) are blanked;
* chat bookkeeping: processed update ids, conversations abandoned half way and wrong-code
  counters, deleted `retention_chat_days` (30) after their last use;
* any document whose `delete_after` date has passed.

`run_purge` selects everything first and acts second, so a dry run reports exactly what a real
run would do at the same moment. Running it twice does nothing the second time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from clauses import audit, invitation_throttle
from clauses.actors import Actor
from clauses.authz import Action, authorize
from clauses.clock import PARIS
from clauses.context import Context
from clauses.counting import add_months
from clauses.rgpd import (
    anonymise_participants,
    delete_documents,
    delete_participants,
    participant_audit_row,
    participant_document_ids,
    stringify_json_column,
)
from clauses.rgpd.mail_scrub import purge_mail_traces
from storage.models import (
    Candidature,
    CandidatureStatus,
    Channel,
    ChatReportRequest,
    ChatReportStatus,
    ChatUpdate,
    Contract,
    ConversationState,
    Document,
    Eligibility,
    InboundMail,
    KeyValue,
    Participant,
)

PROOF_KIND = "proof"


@dataclass
class PurgeReport:
    """What a purge did (or, in a dry run, would do); ids only, never names."""

    dry_run: bool
    at: dt.datetime
    cutoffs: dict[str, str]
    rejected_participants: list[int] = field(default_factory=list)
    """Rejected candidates deleted with everything about them."""
    refused_candidatures: list[int] = field(default_factory=list)
    """Refused candidatures of followed persons, emptied of their contents."""
    inactive_participants: list[int] = field(default_factory=list)
    """Persons anonymised after their inactivity period."""
    proof_documents: list[int] = field(default_factory=list)
    expired_documents: list[int] = field(default_factory=list)
    raw_mails: list[int] = field(default_factory=list)
    """`inbound_mail` rows whose stored raw message was deleted."""
    chat_bookkeeping: int = 0
    """Update ids, abandoned conversations and wrong-code counters deleted (a count: no ids)."""
    files_deleted: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return (len(self.rejected_participants) + len(self.refused_candidatures)
                + len(self.inactive_participants) + len(self.proof_documents)
                + len(self.expired_documents) + len(self.raw_mails) + self.chat_bookkeeping)

    def counts(self) -> dict[str, int]:
        return {
            "rejected_participants": len(self.rejected_participants),
            "refused_candidatures": len(self.refused_candidatures),
            "inactive_participants": len(self.inactive_participants),
            "proof_documents": len(self.proof_documents),
            "expired_documents": len(self.expired_documents),
            "raw_mails": len(self.raw_mails),
            "chat_bookkeeping": self.chat_bookkeeping,
        }

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = self.at.isoformat()
        return data

    def lines_fr(self) -> list[str]:
        verb = "seraient" if self.dry_run else "ont été"
        head = ("Simulation (rien n'est modifié)" if self.dry_run else "Purge effectuée") + (
            f" le {self.at.astimezone(PARIS):%d/%m/%Y à %H:%M}."
        )
        lines = [head]
        rows = [
            (self.rejected_participants, f"candidat(s) refusé(s) {verb} supprimé(s)",
             self.cutoffs["rejected"]),
            (self.refused_candidatures, f"candidature(s) refusée(s) {verb} vidée(s)",
             self.cutoffs["rejected"]),
            (self.inactive_participants, f"personne(s) inactive(s) {verb} anonymisée(s)",
             self.cutoffs["inactive"]),
            (self.proof_documents, f"justificatif(s) {verb} supprimé(s)", self.cutoffs["proof"]),
            (self.expired_documents, f"document(s) arrivé(s) à échéance {verb} supprimé(s)",
             self.cutoffs["today"]),
            (self.raw_mails, f"e-mail(s) brut(s) {verb} supprimé(s)", self.cutoffs["raw_mail"]),
        ]
        for ids, label, cutoff in rows:
            shown = ", ".join(f"n° {i}" for i in ids[:20]) + (" …" if len(ids) > 20 else "")
            lines.append(f"- {len(ids)} {label} (avant le {cutoff})" + (f" : {shown}" if ids else ""))
        lines.append(f"- {self.chat_bookkeeping} trace(s) de conversation {verb} supprimée(s) "
                     f"(avant le {self.cutoffs['chat']} ; compteurs de codes d'invitation "
                     "erronés : après une heure)")
        if not self.total:
            lines.append("Rien à purger.")
        return lines


def months_before(at: dt.datetime, months: int) -> dt.datetime:
    """The same Paris wall-clock time `months` calendar months earlier."""
    local = at.astimezone(PARIS)
    return dt.datetime.combine(add_months(local.date(), -months), local.time(), tzinfo=PARIS)


def _fr(at: dt.datetime | dt.date) -> str:
    day = at.astimezone(PARIS).date() if isinstance(at, dt.datetime) else at
    return day.strftime("%d/%m/%Y")


def _chat_bookkeeping(now: dt.datetime, cut: dt.datetime) -> list[tuple[type, ColumnElement[bool]]]:
    """What the chat keeps only for a while: (table, rows past their retention)."""
    return [
        (ChatUpdate, ChatUpdate.received_at < cut),
        (ConversationState, ConversationState.updated_at < cut),
        (KeyValue, invitation_throttle.stale_rows(now)),
        # a chat bilan's request (who asked, in which chat) once it was delivered or given up
        (ChatReportRequest, (ChatReportRequest.requested_at < cut)
         & ChatReportRequest.status.in_([ChatReportStatus.HANDED_OVER, ChatReportStatus.FAILED])),
    ]


def run_purge(ctx: Context, session: Session, *, dry_run: bool,
              actor: Actor | None = None) -> PurgeReport:
    """Apply the retention rules now (or only report them with `dry_run`).

    The caller owns the transaction; files are unlinked only after it commits.
    """
    actor = actor or Actor.system(Channel.SCHEDULER, "purge RGPD")
    authorize(session, actor, Action.RGPD)
    policy = ctx.policy
    now = ctx.clock.now()
    today = ctx.clock.today()
    rejected_cut = months_before(now, policy.retention_rejected_months)
    inactive_cut = months_before(now, policy.retention_inactive_months)
    proof_cut = months_before(now, policy.retention_proof_months)
    mail_cut = now - dt.timedelta(days=policy.retention_raw_mail_days)
    chat_cut = now - dt.timedelta(days=policy.retention_chat_days)
    report = PurgeReport(
        dry_run=dry_run, at=now,
        cutoffs={"rejected": _fr(rejected_cut), "inactive": _fr(inactive_cut),
                 "proof": _fr(proof_cut), "raw_mail": _fr(mail_cut), "today": _fr(today),
                 "chat": _fr(chat_cut)},
    )

    # 1. rejected candidates: every candidature refused long enough ago, nothing else.
    decided = func.coalesce(Candidature.decided_at, Candidature.created_at)
    old_refusal = (Candidature.status == CandidatureStatus.REFUSEE) & (decided < rejected_cut)
    mine = Candidature.participant_id == Participant.id
    report.rejected_participants = list(session.scalars(
        select(Participant.id).where(
            Participant.anonymised_at.is_(None),
            exists().where(mine),
            ~exists().where(mine, ~old_refusal),
            ~exists().where(Contract.participant_id == Participant.id),
            ~exists().where(Eligibility.participant_id == Participant.id,
                            Eligibility.validated_at.is_not(None),
                            Eligibility.revoked_at.is_(None)),
        ).order_by(Participant.id)
    ))
    gone = set(report.rejected_participants)

    # 2. refused candidatures of persons who stay: only their contents go.
    criteria = stringify_json_column(Candidature.criteria_claimed)
    report.refused_candidatures = [
        cid for cid, pid in session.execute(
            select(Candidature.id, Candidature.participant_id).where(
                old_refusal,
                or_(Candidature.message.is_not(None), Candidature.refusal_reason.is_not(None),
                    Candidature.cv_document_id.is_not(None), criteria.not_in(["[]", "null"])),
            ).order_by(Candidature.id)
        ) if pid not in gone
    ]

    # 3. inactive persons: no activity, no running contract, no recent candidature.
    report.inactive_participants = [
        pid for pid in session.scalars(
            select(Participant.id).where(
                Participant.anonymised_at.is_(None),
                Participant.last_activity_at < inactive_cut,
                (Participant.exit_date.is_(None)) | (Participant.exit_date < inactive_cut.date()),
                ~exists().where(
                    Contract.participant_id == Participant.id,
                    (Contract.end_date.is_(None)) | (Contract.end_date >= inactive_cut.date()),
                ),
                ~exists().where(
                    mine,
                    (Candidature.created_at >= inactive_cut)
                    | (Candidature.decided_at >= inactive_cut),
                ),
            ).order_by(Participant.id)
        ) if pid not in gone
    ]
    leaving = participant_document_ids(session, [*gone, *report.inactive_participants])

    # 4. proofs: 24 months after validation; never-validated proof files 24 months after receipt.
    validated_proofs = select(Eligibility.proof_document_id).where(
        Eligibility.proof_document_id.is_not(None), Eligibility.validated_at < proof_cut)
    recent_validation = exists().where(
        Eligibility.proof_document_id == Document.id,
        (Eligibility.validated_at >= proof_cut),
    )
    stale_proof_files = select(Document.id).where(
        Document.kind == PROOF_KIND, Document.created_at < proof_cut, ~recent_validation)
    proofs = {i for i in session.scalars(validated_proofs.union(stale_proof_files)) if i is not None}
    report.proof_documents = sorted(proofs - leaving)
    # 5. raw e-mails, counted from when they were processed (moved out of the inbox); their
    # documents go with them (mailbox copies, alert excerpts), never as mere expired files.
    processed = func.coalesce(InboundMail.moved_at, InboundMail.received_at)
    mails = session.execute(
        select(InboundMail.id, InboundMail.raw_document_id)
        .where(InboundMail.raw_document_id.is_not(None), processed < mail_cut)
        .order_by(InboundMail.id)
    ).all()
    report.raw_mails = [mid for mid, _ in mails]
    raw_docs = set(session.scalars(select(InboundMail.raw_document_id)
                                   .where(InboundMail.raw_document_id.is_not(None))))
    report.expired_documents = sorted(
        set(session.scalars(select(Document.id).where(Document.delete_after <= today)))
        - leaving - proofs - raw_docs
    )

    # 6. chat bookkeeping: counted, then deleted in bulk (no person is named in the report).
    chat_rows = _chat_bookkeeping(now, chat_cut)
    report.chat_bookkeeping = sum(
        session.scalar(select(func.count()).select_from(model).where(cond)) or 0
        for model, cond in chat_rows
    )

    if dry_run:
        audit.record(session, actor, "retention.dry_run", "retention", None, **report.counts())
        return report

    files: list[str] = []
    files += delete_participants(ctx, session, report.rejected_participants)
    session.add_all(
        participant_audit_row(actor, "retention.rejected_deleted", pid,
                              months=policy.retention_rejected_months)
        for pid in report.rejected_participants
    )
    if report.refused_candidatures:
        cv_ids = [i for i in session.scalars(
            select(Candidature.cv_document_id).where(
                Candidature.id.in_(report.refused_candidatures))) if i is not None]
        files += delete_documents(ctx, session, cv_ids)
        session.execute(
            update(Candidature).where(Candidature.id.in_(report.refused_candidatures))
            .values(message=None, refusal_reason=None, criteria_claimed=[]),
            execution_options={"synchronize_session": "fetch"},
        )
    files += anonymise_participants(
        ctx, session, actor, report.inactive_participants,
        reason=f"inactivité de plus de {policy.retention_inactive_months} mois",
    ).files
    files += delete_documents(ctx, session, [*report.proof_documents, *report.expired_documents])
    if mails:
        files += purge_mail_traces(ctx, session, list(session.scalars(
            select(InboundMail).where(InboundMail.id.in_(report.raw_mails))))).files
    for model, cond in chat_rows:
        session.execute(delete(model).where(cond), execution_options={"synchronize_session": False})
    report.files_deleted = sorted(set(files))
    audit.record(session, actor, "retention.purge", "retention", None, **report.counts())
    session.flush()
    return report
