"""What to do with an understood request from a known sender.

Each handler runs inside the message's transaction: the domain change, the reply and any alert
commit together or not at all. Domain refusals (`DomainError`) become French replies; the
domain services authorise the actor themselves, the checks here only pick a clearer message.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from clauses import audit, directory
from clauses.actors import Actor
from clauses.alerts import raise_alert
from clauses.collector import cycle_collector_paused
from clauses.context import Context
from clauses.directory import territory_facilitators
from clauses.errors import DomainError
from clauses.outbox import ANSWER
from mail import declaration_template, escalation_replies
from mail.candidature_text import extract_candidate
from mail.config import MailConfig
from mail.hire_sheet import parse_hire_sheet, record_hire_lines
from mail.intent import XLSX, Classified, Intent
from mail.outcome import Outcome
from mail.parsing import ParsedMail
from mail.replies import can_reply, enqueue_reply, reply_subject, thread_headers
from mail.spreadsheet import NO_LINES_FR, SheetLine, parse_declaration_file
from storage.documents import DocumentRejected
from storage.models import (
    AlertKind,
    Channel,
    Document,
    InboundMail,
    MailStatus,
    Role,
)

STATUS_FR = {
    "created": "enregistrée",
    "corrected": "corrigée",
    "duplicate": "déjà enregistrée (message reçu deux fois)",
    "unchanged": "inchangée (déjà déclarée avec ces chiffres)",
}
TEMPLATE_XLSX_NAME = "modele-declaration-heures.xlsx"
ACK_DETAIL_LINES = 50
"""Up to this many recorded lines, the acknowledgement lists them all; beyond, it sums them up
by month and lists only the lines that deserve a look (warnings, corrections, repeats): a
2,000-line acknowledgement would be read by nobody, and refused lines are always all listed."""
TEMPLATE_CSV_NAME = "modele-declaration-heures.csv"


@dataclass
class MailJob:
    """Everything a handler needs about one message."""

    ctx: Context
    session: Session
    cfg: MailConfig
    parsed: ParsedMail
    row: InboundMail
    actor: Actor

    @property
    def key_prefix(self) -> str:
        """Stable across refetches and UIDVALIDITY changes: derived from the Message-ID."""
        return "mail:" + hashlib.sha256(self.parsed.dedup_id.encode()).hexdigest()[:24]

    def reply(self, template: str, *, attachments: list[dict[str, Any]] | None = None,
              **context: Any) -> bool:
        row = enqueue_reply(self.session, self.cfg, self.parsed,
                            dedup_key=f"{self.key_prefix}:reply:{template}",
                            template=template, context=context, attachments=attachments)
        return row is not None

    def facilitator_id(self) -> int | None:
        return directory.company_facilitator(self.session, self.actor.company_id)

    def alert(self, kind: AlertKind, message: str, suffix: str = "",
              facilitator_id: int | None = None) -> None:
        """To `facilitator_id` (the one in charge of what the message is about), else the
        sender's company's facilitator, else the référent's territory."""
        facilitator_id = facilitator_id or self.facilitator_id()
        raise_alert(self.session, kind=kind, message=message, facilitator_id=facilitator_id,
                    subject_type="inbound_mail", subject_id=self.row.id,
                    dedup_key=f"inbound:{self.row.id}:{kind.value}{suffix}",
                    territory=self.territory() if facilitator_id is None else None)

    def territory(self) -> list[int]:
        """The facilitators following a référent's donneur (its markets' companies), so that
        its requests do not go to every facilitator of the agency; empty when unknown."""
        if self.actor.donneur_id is None:
            return []
        return territory_facilitators(self.session, donneur_id=self.actor.donneur_id)

    def sender_label(self) -> str:
        """« Sophie MARTIN (BTP Rhône-Confluent) <rh@…> »: the facilitator reading an alert must
        see which company or prescriber wrote, not only an address."""
        name = self.actor.label if self.actor.label != self.parsed.from_address else self.parsed.from_name
        org = directory.organisation_name(self.session, company_id=self.actor.company_id,
                                          prescriber_id=self.actor.prescriber_id)
        who = " ".join(part for part in (name.strip(), f"({org})" if org else "") if part)
        return f"{who} <{self.parsed.from_address}>" if who else f"<{self.parsed.from_address}>"



# -- the declaration template -----------------------------------------------------------------

def template_attachments(ctx: Context, session: Session) -> list[dict[str, Any]]:
    """The XLSX and CSV templates as stored documents (reused once stored)."""
    found: dict[str, int] = {}
    for doc_id, name in session.execute(
        select(Document.id, Document.display_name)
        .where(Document.kind == "template", Document.display_name.in_([TEMPLATE_XLSX_NAME, TEMPLATE_CSV_NAME]))
        .order_by(Document.id.desc())
    ):
        if name is not None:
            found.setdefault(name, doc_id)
    if TEMPLATE_XLSX_NAME not in found:
        doc = ctx.documents.store(session, declaration_template.build_xlsx(), kind="template",
                                  display_name=TEMPLATE_XLSX_NAME, mime_type=XLSX)
        found[TEMPLATE_XLSX_NAME] = doc.id
    if TEMPLATE_CSV_NAME not in found:
        doc = ctx.documents.store(session, declaration_template.build_csv(), kind="template",
                                  display_name=TEMPLATE_CSV_NAME, mime_type="text/csv")
        found[TEMPLATE_CSV_NAME] = doc.id
    return [{"document_id": found[TEMPLATE_XLSX_NAME]}, {"document_id": found[TEMPLATE_CSV_NAME]}]


def handle_template(job: MailJob, intro: str | None = None) -> Outcome:
    attachments = template_attachments(job.ctx, job.session)
    job.reply("template", intro=intro,
              columns=[c.header for c in declaration_template.COLUMNS], attachments=attachments)
    return Outcome(MailStatus.TRAITE, "modele", {"template_sent": True})


# -- declarations ------------------------------------------------------------------------------

def _may_declare(actor: Actor) -> bool:
    return actor.role == Role.ENTREPRISE or actor.is_staff


def handle_declaration(job: MailJob, classified: Classified) -> Outcome:
    """A declaration e-mail's spreadsheets, read and recorded with the cyclic collector paused:
    a 10,000-line file allocates hundreds of thousands of objects, none in a cycle, and full
    collections over them cost a quarter of its import (:mod:`clauses.collector`)."""
    with cycle_collector_paused():
        return _handle_declaration(job, classified)


def _handle_declaration(job: MailJob, classified: Classified) -> Outcome:
    from clauses.declaration_batch import DeclarationLine, record_lines

    if not _may_declare(job.actor):
        return not_allowed(job, "Cette adresse n'est pas habilitée à déclarer des heures d'insertion.",
                           "declaration")
    recorded: list[dict[str, Any]] = []
    hires: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    file_errors: list[dict[str, str]] = []
    names: list[str] = []
    for file_index, (att, kind) in enumerate(classified.spreadsheets):
        name = att.filename or f"fichier {file_index + 1}"
        names.append(name)
        try:
            doc = job.ctx.documents.store(
                job.session, att.data, kind="spreadsheet", display_name=att.filename,
                mime_type=XLSX if kind == "xlsx" else "text/csv", max_bytes=job.cfg.max_attachment_bytes,
                sync_before_commit=True,
            )
        except DocumentRejected as exc:
            file_errors.append({"filename": name, "message": exc.message_fr})
            continue
        many = len(classified.spreadsheets) > 1
        hire_count = _hires(job, att.data, kind, name if many else None, hires, errors)
        sheet = parse_declaration_file(att.data, kind=kind, today=job.ctx.clock.today(),
                                       max_rows=job.cfg.max_sheet_rows)
        if sheet.fatal:
            if not (hire_count and sheet.fatal == NO_LINES_FR):  # a file of hires only
                file_errors.append({"filename": name, "message": sheet.fatal})
            continue

        def where(sheet_name: str | None, name: str = name, many: bool = many) -> str | None:
            if sheet_name:
                return f"{name}, onglet « {sheet_name} »" if many else f"onglet « {sheet_name} »"
            return name if many else None

        for err in sheet.errors:
            errors.append({"filename": where(err.sheet), "row": err.row, "message": err.message_fr})
        lines = _split_full_names(job, sheet.lines, errors, where)
        # The whole file at once (a fixed number of statements, whatever its length); the
        # chat keeps the per-declaration path, both share the validation and counting rules.
        # The key names the attachment, its sheet and column: two files of one e-mail declaring
        # on the same row numbers are two sets of lines; the same e-mail again records nothing.
        digest = hashlib.sha256(att.data).hexdigest()[:12]  # once a file, not once a line
        results = record_lines(job.ctx, job.session, job.actor, [
            DeclarationLine(
                key=_line_key(job.key_prefix, file_index, digest, line),
                last_name=line.last_name, first_name=line.first_name,
                market_reference=line.market_reference, lot_number=line.lot_number,
                month=line.month, work_hours=line.work_hours, training_hours=line.training_hours,
                correction_reason=line.correction_reason,
            ) for line in lines
        ], source=Channel.EMAIL, proof_document_id=doc.id)
        for line, result in zip(lines, results, strict=True):
            if result.error is not None:
                errors.append({"filename": where(line.sheet), "row": line.row,
                               "message": result.error.message_fr})
                continue
            done = result.status or ""
            recorded.append({
                "row": line.row, "name": result.participant_name, "month": line.month,
                "work": line.work_hours, "training": line.training_hours,
                "counted": result.counted, "status": STATUS_FR.get(done, done),
                "warnings": list(result.warnings), "declaration_id": result.declaration_id,
            })
    errors.sort(key=lambda e: (e["filename"] or "", e["row"]))
    for file_error in file_errors:
        file_error["message"] += " Les autres fichiers de ce message ont été lus." if len(names) > 1 else ""
    attachments = template_attachments(job.ctx, job.session) if file_errors else None
    # A file re-sent as it was (a new e-mail, the same hours): acknowledged, not an error.
    repeats = (STATUS_FR["unchanged"], STATUS_FR["duplicate"])
    nothing_changed = bool(recorded) and not (errors or file_errors or hires) and all(
        line["status"] in repeats for line in recorded)
    job.reply("declaration_ack", recorded=recorded, nothing_changed=nothing_changed, **_ack_detail(recorded), errors=errors, error_count=len(errors) + len(file_errors),
              file_errors=file_errors, files=names, template_attached=bool(attachments),
              attachments=attachments, hires=hires)
    status = MailStatus.TRAITE if recorded or hires else MailStatus.ERREUR
    return Outcome(status, "declaration", {
        "lines_recorded": len(recorded),
        "hires_recorded": len(hires),
        "lines_refused": len(errors),
        "files_unreadable": len(file_errors),
        "errors": [f"ligne {e['row']} : {e['message']}" for e in errors][:50],
    })


def _hires(job: MailJob, data: bytes, kind: str, filename: str | None,
           hires: list[dict[str, Any]], errors: list[dict[str, Any]]) -> int:
    """Record the workbook's « Embauches » sheet (before its hours); how many lines it had."""
    if kind != "xlsx":
        return 0
    lines, unreadable = parse_hire_sheet(data, max_rows=job.cfg.max_sheet_rows)
    done, refused = record_hire_lines(job.ctx, job.session, job.actor, lines)
    hires.extend(done)
    where = f"{filename}, onglet Embauches" if filename else "onglet Embauches"
    errors.extend({"filename": where, "row": e.row, "message": e.message_fr}
                  for e in [*unreadable, *refused])
    return len(lines) + len(unreadable)


def _line_key(prefix: str, file_index: int, digest: str, line: SheetLine) -> str:
    sheet = f":s{hashlib.sha256(line.sheet.encode()).hexdigest()[:8]}" if line.sheet else ""
    column = f":c{line.column}" if line.column is not None else ""
    return f"{prefix}:f{file_index}-{digest}{sheet}:l{line.row}{column}"


def _split_full_names(job: MailJob, lines: list[SheetLine], errors: list[dict[str, Any]],
                      where: Any) -> list[SheetLine]:
    """Lines of a « Participant » column with the name split against the sender's people;
    a name matching none or several of them is refused, saying what to write instead."""
    from clauses.full_names import split_full_names

    fulls = {line.last_name for line in lines if line.full_name}
    if not fulls:
        return lines
    split = split_full_names(job.session, job.actor, fulls)
    out: list[SheetLine] = []
    for line in lines:
        if not line.full_name:
            out.append(line)
            continue
        names = split.get(line.last_name)
        if names is None:
            errors.append({"filename": where(line.sheet), "row": line.row, "message": (
                f"« {line.last_name} » ne correspond à aucune personne (ou à plusieurs) parmi vos "
                "salariés en insertion. Écrivez le nom et le prénom comme sur le contrat, ou "
                "séparez-les en deux colonnes « nom » et « prénom ».")})
            continue
        out.append(dataclasses.replace(line, last_name=names[0], first_name=names[1], full_name=False))
    return out


def _ack_detail(recorded: list[dict[str, Any]]) -> dict[str, Any]:
    """What the acknowledgement lists (see ACK_DETAIL_LINES): ``shown`` lines, ``by_month``
    totals, how many lines are ``notable`` (a warning, a correction; at most ACK_DETAIL_LINES
    of them are shown) and how many ``repeats`` were already recorded identically (a file sent
    twice is summed up, not listed again)."""
    if len(recorded) <= ACK_DETAIL_LINES:
        return {"shown": recorded, "by_month": [], "notable": len(recorded), "repeats": 0}
    months: dict[Any, dict[str, Any]] = {}
    for line in recorded:
        m = months.setdefault(line["month"], {"month": line["month"], "lines": 0,
                                             "work": Decimal(0), "training": Decimal(0),
                                             "counted": Decimal(0)})
        m["lines"] += 1
        m["work"] += line["work"]
        m["training"] += line["training"]
        m["counted"] += line["counted"] or 0
    plain = {STATUS_FR["created"], STATUS_FR["unchanged"], STATUS_FR["duplicate"]}
    notable = [line for line in recorded if line["warnings"] or line["status"] not in plain]
    repeats = sum(1 for line in recorded
                  if line["status"] in (STATUS_FR["unchanged"], STATUS_FR["duplicate"]))
    return {"shown": notable[:ACK_DETAIL_LINES], "by_month": [months[k] for k in sorted(months)],
            "notable": len(notable), "repeats": repeats}


# -- candidatures ------------------------------------------------------------------------------

def handle_candidature(job: MailJob, classified: Classified) -> Outcome:
    from clauses.candidatures import submit_candidature

    actor = job.actor
    if actor.role not in (Role.ENTREPRISE, Role.PRESCRIPTEUR) and not actor.is_staff:
        return not_allowed(job, "Cette adresse n'est pas habilitée à proposer des candidatures.", "candidature")
    criteria = job.ctx.rulebook.eligibility.criteria
    cv = classified.cv
    # The whole text, forwarded part included (a prescriber forwards a colleague's message):
    # forwarded headers and signatures are left out by the extraction itself.
    fields = extract_candidate(job.parsed.text, job.parsed.subject, criteria,
                               cv_filename=cv.filename if cv else None, html_text=job.parsed.html_text,
                               sender_name=job.parsed.from_name or job.actor.label or "",
                               sender_address=job.parsed.from_address or "")
    lot_id, company_id = directory.candidature_lot(job.session, actor, fields.market_reference,
                                                   fields.lot_number)
    if fields.candidate is None:
        understood = "; ".join(f"{k} : {v}" for k, v in fields.understood.items()) or "rien de sûr"
        why = fields.unsure or "nom de la personne non reconnu"
        facilitator = directory.company_facilitator(job.session, company_id)
        job.alert(AlertKind.EMAIL_A_TRAITER,
                  f"Candidature reçue par e-mail de {job.sender_label()} (« {job.parsed.subject[:120]} ») : "
                  f"{why} ; rien n'a été enregistré, à saisir à la main (e-mail n° {job.row.id}). "
                  f"Compris : {understood}.", facilitator_id=facilitator)
        job.reply("forwarded", note=(
            "Nous n'avons pas pu reconnaître avec certitude la personne proposée "
            f"({why}) : votre message a été transmis à la personne chargée du suivi, qui "
            "enregistrera la candidature et vous répondra. Pour un traitement automatique, "
            "indiquez sur des lignes séparées « Nom : ... », « Prénom : ... » et « Critères : ... », "
            "une candidature par message."))
        return Outcome(MailStatus.TRAITE, "candidature_a_saisir",
                       {"forwarded": True, "unsure": why, "understood": fields.understood})

    cv_doc_id = None
    if cv is not None:
        try:
            cv_doc = job.ctx.documents.store(job.session, cv.data, kind="cv", display_name=cv.filename,
                                             max_bytes=job.cfg.max_attachment_bytes,
                                             sync_before_commit=True)
            cv_doc_id = cv_doc.id
        except DocumentRejected as exc:
            return rejected(job, [exc.message_fr], "candidature_refusee")
    if company_id is None and fields.company_name and actor.role != Role.ENTREPRISE:
        company_id = directory.company_named(job.session, fields.company_name)
    from clauses.job_offers import quoted_offer_id

    offer_id = quoted_offer_id(job.parsed.subject, job.parsed.text)
    try:
        with job.session.begin_nested():
            cand = submit_candidature(
                job.ctx, job.session, actor, fields.candidate, job_offer_id=offer_id,
                company_id=company_id, lot_id=lot_id, prescriber_id=actor.prescriber_id,
                cv_document_id=cv_doc_id, source=Channel.EMAIL,
                idempotency_key=f"{job.key_prefix}:candidature",
                birth_date=fields.candidate.birth_date, gender=fields.candidate.gender,
                commune=fields.candidate.commune, qpv=fields.candidate.qpv,
                status_at_entry=fields.status_at_entry,
            )
    except DomainError as exc:
        return rejected(job, [exc.message_fr], "candidature_refusee")
    if cv_doc_id is not None:
        doc = job.session.get(Document, cv_doc_id)
        if doc is not None:
            doc.participant_id = cand.participant_id
    labels = [criteria[k].short for k in (cand.criteria_claimed or []) if k in criteria]
    job.reply("candidature_ack", candidature_id=cand.id,
              candidate_name=f"{fields.candidate.first_name} {fields.candidate.last_name}",
              criteria=labels, unknown_criteria=fields.unknown_criteria, cv_received=cv_doc_id is not None)
    return Outcome(MailStatus.TRAITE, "candidature", {
        "candidature_id": cand.id, "participant_id": cand.participant_id,
        "cv_document_id": cv_doc_id, "structured": fields.structured,
        "lot_id": cand.lot_id, "market": fields.market_reference, "job_offer_id": offer_id,
    })


# -- bilans and points d'étape ----------------------------------------------------------------

def handle_report(job: MailJob, classified: Classified) -> Outcome:
    """Check the request and queue the report e-mail; the outbox sender renders it.

    Only the request is recorded here: computing the figures and drawing the charts (about
    350 ms) would run inside the intake's transaction. See
    :mod:`reports.queued` for why this is still sent exactly once.
    """
    from reports.queued import ReportSpec, enqueue_report_email

    actor = job.actor
    if actor.role != Role.REFERENT and not actor.is_staff:
        return not_allowed(job, "Les bilans sont envoyés aux référents des donneurs d'ordre.", "bilan")
    today = job.ctx.clock.today()
    if classified.intent == Intent.POINT_MARCHE:
        reference = classified.market_reference or ""
        market = directory.readable_market(job.session, actor, reference)
        if market is None:
            return not_allowed(
                job, f"Le marché « {reference[:40]} » est introuvable ou n'est pas suivi pour votre "
                "organisation. Vérifiez sa référence.", "point_marche")
        spec = ReportSpec(what="market", market_id=market.id, at=today, generated_on=today)
        provisional = f"Point d'étape — marché {market.reference}"
        subject_type, subject_id = "market", market.id
    else:
        if actor.role != Role.REFERENT or actor.donneur_id is None:
            job.alert(AlertKind.EMAIL_A_TRAITER,
                      f"Demande de bilan {classified.year} par e-mail de {job.sender_label()} : "
                      f"précisez le donneur d'ordre (clausebot bilan). E-mail n° {job.row.id}.")
            job.reply("forwarded", note="Pour un bilan annuel, précisez le donneur d'ordre : "
                      "la demande a été transmise à l'équipe.")
            return Outcome(MailStatus.TRAITE, "bilan_a_preciser", {})
        year = classified.year or today.year
        spec = ReportSpec(what="annual", donneur_id=actor.donneur_id, start=dt.date(year, 1, 1),
                          end=dt.date(year, 12, 31), generated_on=today)
        provisional = f"Bilan {year}"
        subject_type, subject_id = "donneur", actor.donneur_id
    queued = False
    if can_reply(job.parsed, job.cfg):
        subject = reply_subject(job.parsed, provisional)
        spec = dataclasses.replace(spec, subject_from_report=not job.parsed.subject.strip())
        enqueue_report_email(job.session, dedup_key=f"{job.key_prefix}:report",
                             to=job.parsed.from_address or "", spec=spec, subject=subject,
                             headers=thread_headers(job.parsed), priority=ANSWER)
        queued = True
    audit.record(job.session, actor, "bilan.email", subject_type, subject_id, inbound_mail_id=job.row.id)
    return Outcome(MailStatus.TRAITE, classified.intent.value,
                   {subject_type + "_id": subject_id, "report_queued": queued})


# -- everything else ---------------------------------------------------------------------------

def handle_other(job: MailJob, classified: Classified) -> Outcome:
    excerpt = (classified.fresh_text or job.parsed.text).strip()[:600]
    files = ", ".join(a.filename or a.content_type for a in job.parsed.attachments if not a.inline)
    job.alert(AlertKind.EMAIL_A_TRAITER,
              f"E-mail à traiter de {job.sender_label()} : « {job.parsed.subject[:150]} » "
              f"(e-mail n° {job.row.id}{', pièces jointes : ' + files if files else ''}).\n{excerpt}")
    job.reply("forwarded", note=None)
    return Outcome(MailStatus.TRAITE, "autre", {"forwarded": True})


def not_allowed(job: MailJob, reason: str, what: str) -> Outcome:
    job.alert(AlertKind.EMAIL_A_TRAITER,
              f"Demande refusée ({what}) reçue de {job.sender_label()} : « {job.parsed.subject[:150]} » "
              f"(e-mail n° {job.row.id}).", suffix=":refus")
    job.reply("not_allowed", reason=reason)
    return Outcome(MailStatus.ERREUR, f"{what}_non_autorise", {"reason": reason})


def rejected(job: MailJob, problems: list[str], kind: str) -> Outcome:
    job.reply("rejected", problems=problems)
    return Outcome(MailStatus.ERREUR, kind, {"problems": problems})


def dispatch(job: MailJob, classified: Classified) -> Outcome:
    from mail.exit_answers import handle_exit_answer

    if (answered := handle_exit_answer(job, classified)) is not None:
        return answered
    answered = escalation_replies.handle(job, classified)
    if answered is not None:
        return answered
    from mail import proof_replies

    if (answered := proof_replies.handle(job, classified)) is not None:
        return answered
    if classified.intent == Intent.DECLARATION:
        return handle_declaration(job, classified)
    if classified.intent == Intent.CANDIDATURE:
        return handle_candidature(job, classified)
    if classified.intent in (Intent.BILAN, Intent.POINT_MARCHE):
        return handle_report(job, classified)
    if classified.intent == Intent.TEMPLATE:
        if not _may_declare(job.actor):
            return handle_other(job, classified)
        return handle_template(job, intro=None)
    return handle_other(job, classified)

