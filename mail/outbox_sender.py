"""The e-mail delivery step of the outbox runner (:mod:`clauses.outbox_runner`).

The runner owns the queue discipline (claim, a short lease renewed while alive, backoff, dead
letter, the attempt number as fencing token); this module builds the message and hands it to
SMTP (or the Maildir): `pending` -> claimed -> `sent` in its own commit right after the
server's "250"; back to `pending` with an exponential backoff after a 4xx or a broken
connection; `dead` after a 5xx or `outbox_max_attempts` tries, with an ENVOI_ECHOUE alert to
the facilitators.

Rows are claimed one at a time, just before their delivery, with a conditional UPDATE: two
senders (a restart overlapping, a second process) can never both claim a row.

The crash window we accept: if the process dies after the SMTP server accepted a message and
before the row is marked sent, that one message is sent again once its lease runs out
(`outbox_lease_seconds`, 15 s by default: the lease is renewed while the sender lives).
To make such a duplicate identifiable (and dropped by many receiving systems), every row carries a stable
Message-ID derived from its dedup key, stored on the row and reused on every attempt; the Date
header is the row's creation time, so both copies are byte-identical apart from trace headers.

While the server is unreachable, rows are not touched at all (no attempt is counted): the
loop backs off and tries again, so nothing is lost however long the outage; an alert is
raised once a day after `outbox_max_attempts` consecutive connection failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from clauses.alerts import raise_alert
from clauses.bilan.errors import BilanError
from clauses.outbox_runner import OutboxRunner, exponential
from mail.config import MailConfig
from mail.transport import PermanentFailure, TemporaryFailure, Transport, TransportUnavailable
from storage.db import Database
from storage.documents import DocumentStore
from storage.models import (
    Alert,
    AlertKind,
    Document,
    OutboxChannel,
    OutboxMessage,
    ServiceEvent,
    utcnow,
)

if TYPE_CHECKING:
    from reports.queued import ReportPreparer

log = logging.getLogger(__name__)

ALLOWED_HEADERS = frozenset({"in-reply-to", "references", "auto-submitted", "reply-to", "list-unsubscribe"})
_ALERT_KEY = re.compile(r"^alert:(\d+):")


def stable_message_id(dedup_key: str, domain: str) -> str:
    return f"<{hashlib.sha256(dedup_key.encode()).hexdigest()[:32]}.clausebot@{domain}>"


def _one_line(value: str, limit: int = 998) -> str:
    return " ".join(str(value).replace("\r", " ").replace("\n", " ").split())[:limit]


def _set_subject(msg: EmailMessage, subject: str) -> None:
    """Set the Subject folded by :class:`email.header.Header`, not by ``policy.default``.

    Why: the modern policy folds a long non-ASCII subject into encoded words with the space
    between two of them outside both, and readers (RFC 2047) drop such spaces: « BTP
    Rhône-Confluent » arrived as « BTPRhône-Confluent » in every long French subject. The
    legacy encoder keeps the spaces inside the encoded words; the header is stored as source
    text, so the generator keeps that folding (its lines are short enough)."""
    encoded = subject if subject.isascii() else Header(subject, "utf-8", header_name="Subject").encode(linesep="\n")
    del msg["Subject"]
    msg._headers.append(msg.policy.header_source_parse([f"Subject: {encoded}\n"]))  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Claimed:
    id: int
    dedup_key: str
    to_address: str
    subject: str
    body_text: str
    body_html: str | None
    attachments: list
    headers: dict
    message_id: str
    attempts: int
    created_at: dt.datetime


def _wants_render(attachments: list | None) -> bool:
    """A queued report not rendered yet (its attachments hold a render request)."""
    from reports.queued import render_request

    return render_request(attachments) is not None


@dataclass
class SendReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    due: int = 0
    errors: list[str] = field(default_factory=list)


class BadRow(Exception):
    """The row itself cannot be sent (invalid address, missing attachment): permanent."""


class OutboxSender:
    def __init__(self, db: Database, documents: DocumentStore, transport: Transport, cfg: MailConfig,
                 *, now: Callable[[], dt.datetime] = utcnow, reports: ReportPreparer | None = None) -> None:
        self.db = db
        self.documents = documents
        self.transport = transport
        self.cfg = cfg
        self.now = now
        self.reports = reports
        """Renders the rows queued as report requests (:mod:`reports.queued`) before sending."""
        self.connection_failures = 0
        self.runner = OutboxRunner(
            db, OutboxChannel.EMAIL, lease=dt.timedelta(seconds=cfg.outbox_lease_seconds),
            max_attempts=cfg.outbox_max_attempts,
            backoff=exponential(cfg.outbox_retry_base_seconds, cfg.outbox_retry_max_seconds, jitter=0.1),
            on_dead=self._kill, now=now)

    # -- database steps (blocking; run in a worker thread) ------------------------------------
    def due_ids(self, limit: int) -> list[int]:
        return self.runner.due_ids(limit)

    def report_ids(self, ids: list[int]) -> list[int]:
        """Which of these rows are queued reports still to render."""
        with self.db.session() as s:
            rows = s.execute(select(OutboxMessage.id, OutboxMessage.attachments)
                             .where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id))
            return [row_id for row_id, attachments in rows if _wants_render(attachments)]

    def claim(self, row_id: int) -> Claimed | None:
        def snapshot(_: Any, row: OutboxMessage) -> Claimed:
            if not row.message_id:
                row.message_id = stable_message_id(row.dedup_key, self.cfg.agency_domain)
            return Claimed(
                id=row.id, dedup_key=row.dedup_key, to_address=row.to_address or "",
                subject=row.subject or "", body_text=row.body_text, body_html=row.body_html,
                attachments=list(row.attachments or []), headers=dict(row.headers or {}),
                message_id=row.message_id, attempts=row.attempts, created_at=row.created_at,
            )

        return self.runner.claim_one(row_id, snapshot)

    def build(self, row: Claimed) -> tuple[EmailMessage, list[str]]:
        _, address = parseaddr(row.to_address)
        if not address or "@" not in address or any(c in address for c in "\r\n <>,;"):
            raise BadRow(f"adresse invalide : {row.to_address[:100]!r}")
        msg = EmailMessage()
        msg["From"] = formataddr((self.cfg.agency_name, self.cfg.agency_email))
        msg["To"] = address
        _set_subject(msg, _one_line(row.subject, 300))
        msg["Date"] = format_datetime(row.created_at)
        msg["Message-ID"] = row.message_id
        headers = {k: _one_line(v) for k, v in row.headers.items() if k.lower() in ALLOWED_HEADERS and v}
        headers.setdefault("Auto-Submitted", "auto-generated")
        for name, value in headers.items():
            msg[name] = value
        msg.set_content(row.body_text)
        inline = [a for a in row.attachments if a.get("inline") and a.get("cid")]
        files = [a for a in row.attachments if not (a.get("inline") and a.get("cid"))]
        if row.body_html:
            msg.add_alternative(row.body_html, subtype="html")
            html_part = msg.get_body(preferencelist=("html",))
            assert html_part is not None  # the alternative just added
            for item in inline:
                doc, data = self._document(item)
                maintype, _, subtype = doc.mime_type.partition("/")
                html_part.add_related(data, maintype=maintype, subtype=subtype or "octet-stream",
                                      cid=f"<{item['cid']}>", filename=doc.display_name or f"{item['cid']}.png")
        for item in files:
            doc, data = self._document(item)
            maintype, _, subtype = doc.mime_type.partition("/")
            name = doc.display_name or "piece-jointe"
            if maintype == "text":
                msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
            else:
                msg.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream", filename=name)
        return msg, [address]

    def _document(self, item: dict) -> tuple[Document, bytes]:
        with self.db.session() as s:
            doc = s.get(Document, item.get("document_id"))
            if doc is None:
                raise BadRow(f"pièce jointe introuvable (document {item.get('document_id')})")
            try:
                return doc, self.documents.read(doc)
            except OSError as exc:
                raise BadRow(f"pièce jointe illisible (document {doc.id})") from exc

    def mark_sent(self, row_id: int, attempts: int) -> None:
        self.runner.sent(row_id, attempts)

    def backoff(self, attempts: int) -> float:
        return self.runner.backoff(attempts).total_seconds()

    def reschedule(self, row_id: int, attempts: int, error: str) -> bool:
        """Back to pending with backoff; dead (and alert) after the last attempt. True if dead."""
        return self.runner.retry(row_id, attempts, error)

    def mark_dead(self, row_id: int, attempts: int, error: str) -> None:
        self.runner.dead(row_id, attempts, error[:300], last_error=error)

    def _kill(self, s: Any, row: OutboxMessage, reason: str) -> None:
        """Dead-letter hook: an ENVOI_ECHOUE alert (never for a failed alert e-mail: no loop)."""
        match = _ALERT_KEY.match(row.dedup_key)
        if match is not None:
            kind = s.scalar(select(Alert.kind).where(Alert.id == int(match.group(1))))
            if kind == AlertKind.ENVOI_ECHOUE:
                # The e-mail announcing a failed sending failed too: record it, do not loop.
                s.add(ServiceEvent(component="outbox", level="ERROR",
                                   message=f"Alerte d'échec d'envoi non délivrée (outbox {row.id})",
                                   detail={"reason": reason}))
                return
        raise_alert(s, kind=AlertKind.ENVOI_ECHOUE,
                    message=(f"Envoi impossible d'un e-mail à {row.to_address} : « {(row.subject or '')[:120]} » "
                             f"(n° {row.id}). {reason}"),
                    subject_type="outbox", subject_id=row.id, dedup_key=f"outbox:{row.id}:dead")

    def record_outage(self, error: str) -> None:
        with self.db.session() as s:
            s.add(ServiceEvent(component="outbox", level="WARNING",
                               message=f"Serveur d'envoi injoignable : {error[:300]}",
                               detail={"consecutive_failures": self.connection_failures}))
            if self.connection_failures >= self.cfg.outbox_max_attempts:
                raise_alert(s, kind=AlertKind.ENVOI_ECHOUE,
                            message=(f"Le serveur d'envoi des e-mails est injoignable depuis "
                                     f"{self.connection_failures} tentatives ({error[:200]}). Les messages "
                                     "attendent dans la file d'envoi et partiront à son retour."),
                            dedup_key=f"outbox:unreachable:{self.now().date().isoformat()}")

    # -- async orchestration --------------------------------------------------------------------
    async def send_due(self) -> SendReport:
        """Send every due row once; raise TransportUnavailable when the server is unreachable."""
        report = SendReport()
        ids = await asyncio.to_thread(self.due_ids, self.cfg.outbox_batch)
        report.due = len(ids)
        if not ids:
            return report
        # Reports are rendered first (seconds each, in a child process), with no SMTP
        # connection open: a relay drops an idle connection, and the rows after them would be
        # reported as an outage.
        ready: dict[int, Claimed | None] = {}
        for row_id in await asyncio.to_thread(self.report_ids, ids):
            claimed = await asyncio.to_thread(self.claim, row_id)
            ready[row_id] = await self._prepare(claimed, report) if claimed is not None else None
        try:
            if any(row_id not in ready or ready[row_id] is not None for row_id in ids):
                await self._deliver(ids, ready, report)
        finally:
            for row_id in ready:  # rendered, but the pass ended before its turn: retried later
                self.runner.release(row_id)
        return report

    async def _deliver(self, ids: list[int], ready: dict[int, Claimed | None], report: SendReport) -> None:
        """One SMTP session: claim, send and mark each row in turn."""
        async with self.transport.session() as session:
            for row_id in ids:
                claimed = (ready[row_id] if row_id in ready
                           else await asyncio.to_thread(self.claim, row_id))
                if claimed is None:
                    continue
                attempts = claimed.attempts
                try:
                    message, recipients = await asyncio.to_thread(self.build, claimed)
                    await session.send(message, self.cfg.agency_email, recipients)
                except BadRow as exc:
                    await asyncio.to_thread(self.mark_dead, row_id, attempts, str(exc))
                    report.dead += 1
                except PermanentFailure as exc:
                    await asyncio.to_thread(self.mark_dead, row_id, attempts, f"refus définitif : {exc}")
                    report.dead += 1
                except TemporaryFailure as exc:
                    dead = await asyncio.to_thread(self.reschedule, row_id, attempts,
                                                   f"refus temporaire : {exc}")
                    report.dead += int(dead)
                    report.retried += int(not dead)
                except TransportUnavailable as exc:
                    await asyncio.to_thread(self.reschedule, row_id, attempts, f"connexion perdue : {exc}")
                    report.retried += 1
                    raise
                else:
                    # Its own commit, right after the server's acceptance: a crash from here
                    # on sends nothing twice; before it, this one row at most.
                    await asyncio.to_thread(self.mark_sent, row_id, attempts)
                    report.sent += 1
                finally:
                    self.runner.release(row_id)

    async def _prepare(self, claimed: Claimed, report: SendReport) -> Claimed | None:
        """Render a queued report into its row (see :mod:`reports.queued`); None to skip it.

        A failure (the child process, the figures) never ends the pass: the row goes back to
        pending with the usual backoff, and after the last attempt it is dead with an alert
        naming the reason.
        """
        from reports.queued import RowChanged

        if self.reports is None:
            error = "rapport à préparer, mais cet expéditeur n'a pas de moteur de rendu"
            dead = await asyncio.to_thread(self.reschedule, claimed.id, claimed.attempts, error)
            report.dead += int(dead)
            report.retried += int(not dead)
            return None
        try:
            prepared = await asyncio.to_thread(self.reports.prepare, claimed.id, claimed.attempts)
        except RowChanged:
            log.warning("outbox %s changed while its report was rendered; left to its new owner", claimed.id)
            return None
        except (BilanError, ValueError) as exc:
            # The market or donneur is gone, or the request is incomplete: no retry will help.
            reason = exc.message_fr if isinstance(exc, BilanError) else str(exc)
            await asyncio.to_thread(self.mark_dead, claimed.id, claimed.attempts,
                                    f"rapport impossible à établir : {reason}")
            report.dead += 1
            return None
        except Exception as exc:
            log.exception("outbox %s: the report could not be rendered", claimed.id)
            reason = str(exc) or exc.__class__.__name__
            dead = await asyncio.to_thread(self.reschedule, claimed.id, claimed.attempts,
                                           f"préparation du rapport impossible : {reason}")
            report.dead += int(dead)
            report.retried += int(not dead)
            return None
        if prepared is None:  # the row lost its request meanwhile: nothing to send from here
            log.warning("outbox %s no longer holds a report to render; skipped", claimed.id)
            return None
        return dataclasses.replace(claimed, subject=prepared.subject, body_text=prepared.text,
                                   body_html=prepared.html, attachments=list(prepared.attachments))

    async def run(self, stop: asyncio.Event) -> None:
        """Send due rows until `stop` is set; never raises (errors are logged and retried).
        The lease keeper runs meanwhile: the rows being rendered or sent stay ours."""
        self.runner.start_keeper()
        try:
            await self._loop(stop)
        finally:
            self.runner.stop_keeper()

    async def _loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            wait = self.cfg.outbox_poll_seconds
            try:
                report = await self.send_due()
                self.connection_failures = 0
                if report.due >= self.cfg.outbox_batch:
                    wait = 0
            except TransportUnavailable as exc:
                self.connection_failures += 1
                wait = min(self.cfg.outbox_retry_base_seconds * 2 ** (self.connection_failures - 1),
                           self.cfg.outbox_retry_max_seconds)
                log.warning("outbox: mail server unavailable (%s); retrying in %.1fs", exc, wait)
                try:
                    await asyncio.to_thread(self.record_outage, str(exc))
                except Exception:
                    log.exception("outbox: could not record the outage")
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox sender pass failed")
            if wait <= 0:
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
