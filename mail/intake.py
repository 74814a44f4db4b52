"""Store-then-move: the transport-independent core shared by the IMAP and Maildir intakes.

The discipline that makes the intake safe:

* a message is processed in ONE transaction that writes its `inbound_mail` row (unique on
  account, folder, UIDVALIDITY, UID), the raw message, every domain change, the replies and
  alerts (outbox rows) and the folder's `mailbox_states.last_uid`; a scan may put several
  messages in one transaction (:meth:`IntakeCore.ingest_many`): all of them commit, or none,
  and a batch that fails is redone one message per transaction, so one bad message never
  costs the others;
* only after that commit is the message moved (to `Traités`, `Erreurs` or `Quarantaine`);
* a message found again whose key is already stored (crash between commit and move) is only
  moved, never processed again; a message seen under a new UIDVALIDITY is deduplicated by
  Message-ID in :func:`mail.processing.process_message`;
* an unexpected exception while processing rolls everything back, then a second, minimal
  transaction records the message as quarantined with an alert, so one bad message never
  stops the intake and is never retried forever. If even that fails (database down), the
  exception propagates, the message stays where it is and the transport retries later.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError

from clauses.alerts import raise_alert
from clauses.context import Context
from mail.config import MailConfig
from mail.outcome import MailKey, Outcome
from mail.processing import process_message
from storage.models import AlertKind, InboundMail, MailboxState, MailStatus, ServiceEvent, utcnow
from storage.models.base import table_of

log = logging.getLogger(__name__)

INGEST_BATCH = 20
"""New messages fetched together (one IMAP FETCH) and processed in one transaction (see
:meth:`IntakeCore.ingest_many`); on SQLite the batch holds the write lock for its
whole processing, a few tenths of a second at this size."""

INGEST_BATCH_BYTES = 16 * 1024 * 1024
"""And at most this many bytes of messages in memory at once (a larger message goes alone)."""



def starts_new_batch(count: int, batch_bytes: int, weight: int) -> bool:
    """Whether a message weighing ``weight`` bytes (what is held in memory of it: the headers
    alone of one over the size limit) must go in a new batch after ``count`` messages of
    ``batch_bytes``: one rule for the IMAP and the Maildir intake."""
    return count > 0 and (count >= INGEST_BATCH or batch_bytes + weight > INGEST_BATCH_BYTES)


INGEST_BATCH_SECONDS = 0.5
"""A batch's transaction takes no new message after this long (the rest go in the next one):
on SQLite it holds the write lock, which the chat and the jobs wait for, and a few long
declaration files must not make them wait seconds."""


def _key_conditions(keys: Iterable[MailKey], chunk: int = 500) -> Iterator[tuple[Any, ...]]:
    """WHERE clauses covering ``keys``: equality on (account, folder, UIDVALIDITY) and an IN
    list of UIDs, a lookup in the unique index on both backends (SQLite answers a row-value
    ``(account, folder, uidvalidity, uid) IN (...)`` by scanning the table). A scan's keys
    share one folder: one statement per ``chunk`` UIDs."""
    by_folder: dict[tuple[str, str, int], list[int]] = {}
    for k in keys:
        by_folder.setdefault((k.account, k.folder, k.uidvalidity), []).append(k.uid)
    for (account, folder, uidvalidity), uids in by_folder.items():
        for start in range(0, len(uids), chunk):
            yield (InboundMail.account == account, InboundMail.folder == folder,
                   InboundMail.uidvalidity == uidvalidity,
                   InboundMail.uid.in_(uids[start:start + chunk]))


_STATES = table_of(MailboxState)
_BUMP_STATE = (update(_STATES).where(
    _STATES.c.account == bindparam("k_account"), _STATES.c.folder == bindparam("k_folder"),
    _STATES.c.uidvalidity == bindparam("k_uidvalidity"), _STATES.c.last_uid < bindparam("k_uid"),
).values(last_uid=bindparam("k_uid")))
"""Built once (Core, on the table): building and cache-keying this UPDATE for every message
cost more than running it."""


@dataclass(frozen=True)
class Incoming:
    """One fetched message waiting for :meth:`IntakeCore.ingest_many`."""

    key: MailKey
    raw: bytes
    headers_only: bool = False
    size: int | None = None


class IntakeCore:
    def __init__(self, ctx: Context, cfg: MailConfig) -> None:
        self.ctx = ctx
        self.cfg = cfg

    # -- state -----------------------------------------------------------------------------------
    def sync_state(self, account: str, folder: str, uidvalidity: int) -> bool:
        """Record the folder's UIDVALIDITY; True when it changed (every UID is then new)."""
        with self.ctx.db.session() as s:
            state = s.scalar(select(MailboxState).where(MailboxState.account == account,
                                                        MailboxState.folder == folder))
            if state is None:
                s.add(MailboxState(account=account, folder=folder, uidvalidity=uidvalidity, last_uid=0,
                                   last_poll_at=utcnow()))
                return False
            state.last_poll_at = utcnow()
            if state.uidvalidity == uidvalidity:
                return False
            log.warning("UIDVALIDITY of %s/%s changed %s -> %s: rescanning, deduplicating by Message-ID",
                        account, folder, state.uidvalidity, uidvalidity)
            s.add(ServiceEvent(component="mail", level="WARNING",
                               message=f"UIDVALIDITY changée pour {folder} : nouvelle lecture complète",
                               detail={"account": account, "old": state.uidvalidity, "new": uidvalidity}))
            state.uidvalidity = uidvalidity
            state.last_uid = 0
            return True

    def known(self, keys: Iterable[MailKey]) -> dict[MailKey, MailStatus]:
        """Statuses of the keys already stored, in one query."""
        keys = list(keys)
        if not keys:
            return {}
        found: dict[MailKey, MailStatus] = {}
        with self.ctx.db.session() as s:
            for where in _key_conditions(keys):
                rows = s.execute(select(InboundMail.account, InboundMail.folder,
                                        InboundMail.uidvalidity, InboundMail.uid,
                                        InboundMail.status).where(*where))
                for account, folder, uidvalidity, uid, status in rows:
                    found[MailKey(account, folder, int(uidvalidity), int(uid))] = status
        return found

    def mark_moved(self, key: MailKey) -> None:
        self.mark_moved_many([key])

    def mark_moved_many(self, keys: Iterable[MailKey]) -> None:
        """Record the moves of a scan in one transaction (one UPDATE per 500 keys).

        Why batched: a transaction per message cost a commit (an fsync on SQLite) each. The
        record is bookkeeping only: a move not recorded (crash before this) is harmless, the
        message has left the folder and its row says how it was processed.
        """
        keys = list(keys)
        if not keys:
            return
        now = utcnow()
        with self.ctx.db.session() as s:
            for where in _key_conditions(keys):
                s.execute(update(InboundMail).where(*where, InboundMail.moved_at.is_(None))
                          .values(moved_at=now).execution_options(synchronize_session=False))

    # -- processing --------------------------------------------------------------------------------
    def ingest(self, key: MailKey, raw: bytes, *, headers_only: bool = False, size: int | None = None,
               track_state: bool = True) -> MailStatus:
        """Process and commit one message; return where it must be moved."""
        try:
            with self.ctx.db.session() as s:
                outcome = process_message(self.ctx, s, self.cfg, key, raw, headers_only=headers_only, size=size)
                if track_state:
                    self._bump_state(s, key)
            log.info("mail %s/%s uid=%s: %s (%s)", key.account, key.folder, key.uid,
                     outcome.status.value, outcome.kind)
            return outcome.status
        except IntegrityError:
            # Another intake committed the same key first: follow what it decided.
            status = self.known([key]).get(key)
            if status is not None:
                return status
            log.exception("integrity error on mail %s", key)
            return self._quarantine_after_crash(key, raw, track_state)
        except Exception:
            log.exception("processing mail %s failed; quarantining it", key)
            return self._quarantine_after_crash(key, raw, track_state)

    def ingest_many(self, items: Sequence[Incoming], *, track_state: bool = True) -> list[MailStatus]:
        """Process and commit several messages in ONE transaction; return where each must go.

        Why: a transaction per message paid, each time, the session, the BEGIN and the COMMIT,
        the folder's ``last_uid`` UPDATE and a wait for the raw message's fsync, about a tenth
        of an e-mail's time. Nothing is lost and nothing counted twice: the rows are still unique
        on the message's key, the messages are moved only after this commit, and a message
        processed earlier in the batch is seen by the later ones (a duplicate Message-ID, an
        unknown sender's one reply a day) exactly as in separate transactions.

        When anything fails (a bug in a handler, a conflict with another intake, an fsync at
        the commit), the whole batch is rolled back and redone one message per transaction by
        :meth:`ingest`, which quarantines only the message that fails. A transaction takes no
        new message after :data:`INGEST_BATCH_SECONDS`: the rest go in the next one.
        """
        if len(items) <= 1:
            return [self.ingest(i.key, i.raw, headers_only=i.headers_only, size=i.size,
                                track_state=track_state) for i in items]
        outcomes: list[Outcome] = []
        started = time.monotonic()
        stage = "at its start"
        try:
            with self.ctx.db.session() as s:
                for item in items:
                    stage = f"at message {len(outcomes) + 1}"
                    outcomes.append(process_message(self.ctx, s, self.cfg, item.key, item.raw,
                                                    headers_only=item.headers_only, size=item.size))
                    if time.monotonic() - started > INGEST_BATCH_SECONDS:
                        break  # long files: commit what is done, the rest in a new transaction
                done = items[:len(outcomes)]
                stage = "at its end (folder state or commit)"
                if track_state:  # one UPDATE per folder: the highest UID of the batch
                    highest: dict[tuple[str, str, int], MailKey] = {}
                    for item in done:
                        k = item.key
                        top = highest.get((k.account, k.folder, k.uidvalidity))
                        if top is None or k.uid > top.uid:
                            highest[(k.account, k.folder, k.uidvalidity)] = k
                    for k in highest.values():
                        self._bump_state(s, k)
        except Exception:
            log.warning("a batch of %d messages failed %s; processing them one per transaction",
                        len(items), stage, exc_info=True)
            return [self.ingest(i.key, i.raw, headers_only=i.headers_only, size=i.size,
                                track_state=track_state) for i in items]
        for item, outcome in zip(done, outcomes, strict=True):
            log.info("mail %s/%s uid=%s: %s (%s)", item.key.account, item.key.folder, item.key.uid,
                     outcome.status.value, outcome.kind)
        rest = self.ingest_many(items[len(done):], track_state=track_state) if len(done) < len(items) else []
        return [o.status for o in outcomes] + rest

    def _bump_state(self, s, key: MailKey) -> None:
        """Raise the folder's ``last_uid`` to this message's, in one statement (a SELECT then
        an UPDATE cost two round trips a message on PostgreSQL)."""
        s.connection().execute(_BUMP_STATE, {"k_account": key.account, "k_folder": key.folder,
                                             "k_uidvalidity": key.uidvalidity, "k_uid": key.uid})

    def _quarantine_after_crash(self, key: MailKey, raw: bytes, track_state: bool) -> MailStatus:
        error = traceback.format_exc(limit=3)[-1500:]
        with self.ctx.db.session() as s:
            row = InboundMail(account=key.account, folder=key.folder, uidvalidity=key.uidvalidity, uid=key.uid,
                              message_id=None, size=len(raw), status=MailStatus.QUARANTAINE,
                              kind="erreur_interne", result={"error": error}, received_at=self.ctx.clock.now())
            s.add(row)
            s.flush()
            try:
                with s.begin_nested():
                    doc = self.ctx.documents.store(s, raw, kind="raw_email", mime_type="message/rfc822",
                                                   max_bytes=max(len(raw), 1))
                    row.raw_document_id = doc.id
            except Exception:  # keep the row even without its raw copy
                log.exception("could not store raw copy of quarantined mail %s", key)
            raise_alert(s, kind=AlertKind.QUARANTAINE,
                        message=(f"E-mail n° {row.id} mis en quarantaine : erreur interne pendant son "
                                 "traitement. À examiner (dossier Quarantaine)."),
                        subject_type="inbound_mail", subject_id=row.id, dedup_key=f"inbound:{row.id}:crash")
            s.add(ServiceEvent(component="mail", level="ERROR", message="Erreur de traitement d'un e-mail",
                               detail={"inbound_id": row.id, "error": error[-500:]}))
            if track_state:
                self._bump_state(s, key)
        return MailStatus.QUARANTAINE

    def folder_for(self, status: MailStatus, done: str, error: str, quarantine: str) -> str:
        return {MailStatus.TRAITE: done, MailStatus.ERREUR: error, MailStatus.QUARANTAINE: quarantine}[status]
