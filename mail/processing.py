"""The pipeline for one received message, run inside one database transaction.

Order matters and is deliberate:

1. duplicates (same Message-ID already stored, e.g. after a UIDVALIDITY change) are recorded
   and otherwise ignored, so nothing counts twice;
2. the raw message is stored (content-addressed) with its row in `inbound_mail`;
3. messages too large to fetch, structurally broken MIME, failed sender authentication (when
   required) and hostile attachments (bombs) go to quarantine or get a reply *before* anybody
   looks at the sender's identity or opens a file;
4. unknown senders get a polite reply that reveals nothing (at most one a day per address) and
   the facilitators an alert; automatic mail (out-of-office, lists, bounces) is never answered;
5. other attachment problems (too big, winmail.dat, password-protected, archives) get a reply
   saying what to do;
6. the request is classified and handed to :mod:`mail.handlers`.

The caller (:mod:`mail.intake`) commits the transaction, and only then moves the message.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from clauses.alerts import raise_alert
from clauses.context import Context
from mail import authresults, safety
from mail.config import MailConfig
from mail.handlers import MailJob, dispatch, territory_facilitators
from mail.intent import classify
from mail.outcome import MailKey, Outcome
from mail.parsing import ParsedMail, parse_message
from mail.replies import can_reply, enqueue_reply
from storage.documents import DocumentRejected
from storage.models import AlertKind, InboundMail, MailStatus
from storage.models.base import table_of

_INBOUND = table_of(InboundMail)
_FIRST_WITH_MESSAGE_ID = (select(_INBOUND.c.id).where(_INBOUND.c.message_id == bindparam("message_id"))
                          .order_by(_INBOUND.c.id).limit(1))
"""The duplicate check, built once (Core, on the table, the id only): an ORM select of the
whole row, built and cache-keyed for every message, cost several times its lookup."""
_INBOUND_COLUMNS = [c.key for c in _INBOUND.columns if c.key != "id"]
_INSERT_INBOUND = insert(_INBOUND).returning(_INBOUND.c.id)
_FINISH_INBOUND = (update(_INBOUND).where(_INBOUND.c.id == bindparam("b_id"))
                   .values(status=bindparam("b_status"), kind=bindparam("b_kind"),
                           result=bindparam("b_result")))
"""The message's row written and then given its outcome by statements built once (the ORM
built, cache-keyed and flushed a unit of work for each: a tenth of an e-mail's time)."""


def _store_raw(ctx: Context, session: Session, cfg: MailConfig, raw: bytes, row: InboundMail) -> None:
    """The raw message's document, named on ``row`` before its INSERT (no savepoint, no later
    UPDATE of either row: three statements an e-mail fewer, each a round trip on PostgreSQL).
    ``DocumentStore.store`` adds nothing to the session when it refuses, so a refusal only
    says so on the row."""
    try:
        doc = ctx.documents.store(
            session, raw, kind="raw_email", mime_type="message/rfc822",
            max_bytes=max(cfg.max_message_bytes, len(raw)),
            delete_after=ctx.clock.today() + dt.timedelta(days=cfg.retention_raw_mail_days),
            sync_before_commit=True)
    except (DocumentRejected, OSError) as exc:
        row.result = {**(row.result or {}), "raw_not_stored": str(exc)[:200]}
    else:
        row.raw_document_id = doc.id


def _alert(session: Session, row: InboundMail, kind: AlertKind, message: str,
           territory: list[int] | None = None) -> None:
    raise_alert(session, kind=kind, message=message, subject_type="inbound_mail", subject_id=row.id,
                dedup_key=f"inbound:{row.id}:{kind.value}", territory=territory)


def _who(parsed: ParsedMail) -> str:
    return f"<{parsed.from_address}>" if parsed.from_address else "(expéditeur illisible)"


def _reply_key(parsed: ParsedMail, what: str) -> str:
    return "mail:" + hashlib.sha256(parsed.dedup_id.encode()).hexdigest()[:24] + f":reply:{what}"


def process_message(
    ctx: Context,
    session: Session,
    cfg: MailConfig,
    key: MailKey,
    raw: bytes,
    *,
    headers_only: bool = False,
    size: int | None = None,
) -> Outcome:
    """Record `raw` under `key` and act on it; the caller owns (and commits) the transaction."""
    parsed = parse_message(raw, headers_only=headers_only)
    row = InboundMail(
        account=key.account, folder=key.folder, uidvalidity=key.uidvalidity, uid=key.uid,
        message_id=parsed.dedup_id, from_address=parsed.from_address,
        subject=parsed.subject[:300] or None, size=size if size is not None else len(raw),
        status=MailStatus.TRAITE, kind=None, result={}, received_at=ctx.clock.now(),
    )
    original = session.connection().execute(_FIRST_WITH_MESSAGE_ID,
                                            {"message_id": parsed.dedup_id}).scalar()
    if original is not None:
        row.kind = "doublon"
        row.result = {"duplicate_of": original}
        _insert(session, row)
        return Outcome(MailStatus.TRAITE, "doublon", row.result, row.id)
    _store_raw(ctx, session, cfg, raw, row)
    _insert(session, row)
    outcome = _decide(ctx, session, cfg, parsed, row)
    session.flush()  # what the handlers left to the ORM, before the row's final state
    final = {"b_id": row.id, "b_status": outcome.status, "b_kind": outcome.kind[:40],
             "b_result": {**(row.result or {}), **outcome.result}}
    session.connection().execute(_FINISH_INBOUND, final)
    for name in ("status", "kind", "result"):
        set_committed_value(row, name, final[f"b_{name}"])
    outcome.inbound_id = row.id
    return outcome


def _insert(session: Session, row: InboundMail) -> None:
    """INSERT ``row`` with the prebuilt statement, then make it persistent in ``session`` with its
    id (what ``session.add`` then a flush did, without building a unit of work for one row)."""
    values = {name: row.__dict__.get(name) for name in _INBOUND_COLUMNS}
    session.flush()  # rows this one may name are written first, as the ORM's flush would
    values["id"] = session.connection().execute(_INSERT_INBOUND, values).scalar_one()
    for name, value in values.items():
        set_committed_value(row, name, value)
    make_transient_to_detached(row)
    session.add(row)


def _quarantine(session: Session, cfg: MailConfig, parsed: ParsedMail, row: InboundMail, kind: str,
                message: str, *, reply: bool) -> Outcome:
    _alert(session, row, AlertKind.QUARANTAINE,
           f"E-mail n° {row.id} mis en quarantaine ({kind}) : {_who(parsed)} « {parsed.subject[:120]} ». {message}")
    if reply:
        enqueue_reply(session, cfg, parsed, dedup_key=_reply_key(parsed, "unreadable"), template="unreadable")
    return Outcome(MailStatus.QUARANTAINE, kind, {"reason": message})


def _decide(ctx: Context, session: Session, cfg: MailConfig, parsed: ParsedMail, row: InboundMail) -> Outcome:
    from clauses.senders import identify_sender

    if parsed.headers_only:
        limit = cfg.max_message_bytes // (1024 * 1024)
        problem = (f"Le message est trop volumineux ({row.size // (1024 * 1024)} Mo) : la limite est de "
                   f"{limit} Mo. Envoyez les pièces jointes en plusieurs messages ou réduisez-les.")
        enqueue_reply(session, cfg, parsed, dedup_key=_reply_key(parsed, "rejected"), template="rejected",
                      context={"problems": [problem]})
        return Outcome(MailStatus.ERREUR, "trop_volumineux", {"problems": [problem]})
    if parsed.fatal:
        known = parsed.from_address is not None and identify_sender(session, parsed.from_address) is not None
        return _quarantine(session, cfg, parsed, row, "mime_invalide",
                           f"Structure MIME invalide ({parsed.fatal}).", reply=known)
    if parsed.from_address is None:
        return _quarantine(session, cfg, parsed, row, "sans_expediteur", "Adresse d'expéditeur illisible.",
                           reply=False)
    if parsed.from_address == cfg.agency_email.lower():
        return Outcome(MailStatus.TRAITE, "boucle", {"ignored": "own address"})
    forged = (authresults.explicit_failure(parsed.authentication_results, cfg.authserv_id)
              if cfg.reject_failed_authentication else None)
    if forged is not None:
        return _quarantine(session, cfg, parsed, row, "non_authentifie",
                           f"Le serveur de réception signale une usurpation possible ({forged}) : "
                           "rien n'a été enregistré. Vérifiez auprès de l'expéditeur par un autre moyen.",
                           reply=False)
    if cfg.require_authentication_results:
        verdict = authresults.verify(parsed.authentication_results, parsed.from_domain, cfg.authserv_id)
        if not verdict.passed:
            return _quarantine(session, cfg, parsed, row, "non_authentifie",
                               f"Expéditeur non authentifié (usurpation possible) : {verdict.reason}.",
                               reply=False)
        row.result = {**(row.result or {}), "authentication": verdict.reason}

    problems = [p for a in parsed.attachments if (p := safety.inspect(a, cfg)) is not None]
    hostile = [p for p in problems if p.hostile]
    if hostile:
        return _quarantine(session, cfg, parsed, row, "piece_jointe_dangereuse",
                           " ".join(p.message_fr for p in hostile), reply=False)

    if parsed.is_bounce:
        _alert(session, row, AlertKind.EMAIL_A_TRAITER,
               f"Avis de non-remise reçu (e-mail n° {row.id}) : « {parsed.subject[:120]} ». "
               "Une adresse de contact est peut-être erronée.")
        return Outcome(MailStatus.TRAITE, "non_remise", {})

    actor = identify_sender(session, parsed.from_address)
    if actor is None:
        # A colleague of a known contact (same domain) goes to that company's facilitator.
        _alert(session, row, AlertKind.EXPEDITEUR_INCONNU,
               f"E-mail n° {row.id} d'une adresse inconnue {_who(parsed)} : « {parsed.subject[:120]} ». "
               "S'il s'agit d'un partenaire, enregistrez cette adresse comme contact.",
               territory=territory_facilitators(session, email_domain=parsed.from_domain, limit=3))
        if can_reply(parsed, cfg):
            enqueue_reply(session, cfg, parsed, template="unknown_sender",
                          dedup_key=f"mail:unknown-sender:{parsed.from_address}:{ctx.clock.today().isoformat()}")
        return Outcome(MailStatus.TRAITE, "expediteur_inconnu", {})
    if parsed.auto_submitted:
        return Outcome(MailStatus.TRAITE, "automatique", {"ignored": "auto-submitted"})

    if problems:
        messages = list(dict.fromkeys(p.message_fr for p in problems))
        enqueue_reply(session, cfg, parsed, dedup_key=_reply_key(parsed, "rejected"), template="rejected",
                      context={"problems": messages})
        return Outcome(MailStatus.ERREUR, "piece_jointe_refusee",
                       {"problems": messages, "codes": [p.code for p in problems]})

    job = MailJob(ctx=ctx, session=session, cfg=cfg, parsed=parsed, row=row, actor=actor)
    outcome = dispatch(job, classify(parsed))
    if parsed.html_only:
        outcome.result["html_only"] = True
    if parsed.defects:
        outcome.result["defects"] = sorted(set(parsed.defects))[:20]
    return outcome
