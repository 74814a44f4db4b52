"""One digest message instead of a burst of alert pushes to the same person.

Why: the scheduler's first catch-up after an agency's history is loaded raises thousands of
alerts at once, and the chat is paced at about one message a second per person: a
facilitator's phone buzzed for hours. Past :func:`digest_threshold` alerts waiting for one
person, the set-based writer (:func:`clauses.alerts.raise_alerts`, the scheduler's) pushes
one message that counts them per kind, quotes the first few and says how to list them all
(``/alertes [type]``, where their buttons are). The alerts themselves are still recorded one
by one (dedup key, list, buttons); only the push is folded.

The rule, per person, within one set-based write:

- a digest of theirs still waiting in the outbox takes the new alerts (its text is rewritten
  in the same transaction as the alerts it adds: both commit or neither does);
- else, if the alert pushes waiting for them plus the new ones exceed the threshold, a new
  digest takes them all: the single pushes not delivered yet are taken back from the outbox
  (those the sender already took go out as they are);
- else the alerts are pushed one by one, as before.

The pushes are counted and taken back by the person they go to (``outbox.to_user_id``, set
on e-mail pushes too). A digest's counts and the ids of the alerts it quotes live in its
outbox row (``headers`` key :data:`TALLY`, which no sender passes on) so that later writes of
the same catch-up can add to it. Its dedup key names its first alert, which is created once:
a re-run raises no new alert and so no new digest.
Interactive alerts (:func:`clauses.alerts.raise_alert`: a candidature to validate, an e-mail
to read) never start nor join a digest on their own; one still waiting in the outbox when a
burst starts a digest is counted in it (``/alertes`` has its buttons).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from clauses.context import DEFAULTS
from clauses.formatting import fold
from clauses.outbox import chat_message, email_message
from storage.models import Alert, AlertKind, OutboxMessage, OutboxStatus
from storage.models.base import table_of

KIND_FR: dict[AlertKind, str] = {
    AlertKind.CANDIDATURE_A_VALIDER: "candidature à valider",
    AlertKind.ENTREPRISE_EN_RETARD: "entreprise en retard",
    AlertKind.DECLARATION_MANQUANTE: "déclaration manquante",
    AlertKind.ESCALADE_ECHEANCE: "échéance d'escalade",
    AlertKind.COURRIER_A_APPROUVER: "courrier à approuver",
    AlertKind.EMAIL_A_TRAITER: "e-mail à traiter",
    AlertKind.EXPEDITEUR_INCONNU: "expéditeur inconnu",
    AlertKind.QUARANTAINE: "quarantaine",
    AlertKind.ENVOI_ECHOUE: "envoi échoué",
    AlertKind.BILAN_FINAL: "bilan final",
    AlertKind.BILAN_ANNUEL: "bilan annuel",
    AlertKind.REUNION: "réunion",
    AlertKind.CONVENTION: "convention",
    AlertKind.FACTURATION: "facturation",
    AlertKind.AUTRE: "autre",
}
"""Each kind of alert in French (the digest's counts, ``/alertes``, ``clausebot alertes``)."""

TALLY = "clausebot-digest"
"""Key of a digest's counts in its outbox row's ``headers`` (senders pass only mail headers)."""
QUOTED = 5
"""Alerts quoted in a digest (the first ones)."""
DIGEST_PREFIX = "digest:"
ALERT_PREFIX = "alert:"

_threshold = DEFAULTS.alert_digest_threshold


def configure_digest(threshold: int) -> None:
    """The threshold from the settings (the wiring sets it); 0 turns digests off."""
    global _threshold
    _threshold = max(0, threshold)


def digest_threshold() -> int:
    """More alerts than this waiting for one person are pushed as one digest (0: never)."""
    return _threshold


def kind_word(kind: AlertKind) -> str:
    """What to type after ``/alertes`` to list this kind."""
    return kind.value


def parse_kind(text: str) -> list[AlertKind]:
    """The kinds ``text`` names: its command word, its French label, or a part of either
    (« retard », « facturation », « Entreprise en retard »); several when it is ambiguous."""
    wanted = fold(text).replace("_", " ").replace("-", " ").replace("'", " ")
    if not wanted:
        return []
    forms = {k: (fold(k.value.replace("_", " ")),
                 fold(KIND_FR[k]).replace("-", " ").replace("'", " ")) for k in AlertKind}
    exact = [k for k, names in forms.items() if wanted in names]
    return exact or [k for k, names in forms.items() if any(wanted in n for n in names)]


@dataclass
class Tally:
    """What a digest summarises: how many alerts, per kind, and which it quotes.

    Only counts and alert ids are kept in the outbox row (never the alerts' text, which may
    name a person: the quoted lines are read from the alerts, which an erasure scrubs, and
    live otherwise only in the message's text, which it blanks)."""

    total: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    quoted: list[int] = field(default_factory=list)
    texts: dict[int, str] = field(default_factory=dict, compare=False)
    """The quoted alerts' first lines (read with them, not stored)."""

    def add(self, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            self.total += 1
            kind = AlertKind(alert.kind).value
            self.kinds[kind] = self.kinds.get(kind, 0) + 1
            if len(self.quoted) < QUOTED:
                self.quoted.append(alert.id)
                self.texts[alert.id] = alert.message or ""

    def to_json(self) -> dict[str, Any]:
        return {"total": self.total, "kinds": dict(self.kinds), "quoted": list(self.quoted)}

    @classmethod
    def from_json(cls, session: Session, data: Mapping[str, Any] | None) -> Tally:
        """The tally of a digest still waiting, with its quoted alerts' text read again."""
        data = data or {}
        quoted = [int(x) for x in data.get("quoted") or []]
        texts = {alert_id: message for alert_id, message in session.execute(
            select(Alert.id, Alert.message).where(Alert.id.in_(quoted or [-1])))}
        return cls(int(data.get("total", 0)),
                   {str(k): int(v) for k, v in dict(data.get("kinds") or {}).items()},
                   quoted, texts)

    def subject(self) -> str:
        return f"[clausebot] {self.total} nouvelles alertes à traiter"

    def text(self) -> str:
        """The digest in French: counts per kind (most first), the first alerts, the way on."""
        out = [f"🔔 {self.total} nouvelles alertes, regroupées en un seul message :"]
        for kind, count in sorted(self.kinds.items(), key=lambda kv: (-kv[1], kv[0])):
            label = KIND_FR.get(AlertKind(kind), kind)
            out.append(f"• {count} × {label} — /alertes {kind}")
        out.append("Les premières :" if self.total > len(self.quoted) else "Les voici :")
        for alert_id in self.quoted:
            text = self.texts.get(alert_id, "")
            out.append(f"– {(text.splitlines() or [''])[0][:150]}")
        out.append("Pour les voir toutes et les traiter (avec leurs boutons) : /alertes, "
                   "ou /alertes suivi du type ci-dessus.")
        return "\n".join(out)


def digests_quoting(session: Session, alert_ids: Sequence[int]) -> list[int]:
    """The outbox digests that quote one of these alerts (their text holds its first line).

    Why: a digest's dedup key names only its first alert, so the erasure's key patterns do
    not find it; its quoted ids are in its :data:`TALLY`. Read in Python (the JSON is stored
    as text on SQLite, as JSON on PostgreSQL), a digest row at a time: erasures are rare and
    digests few (one per person and catch-up)."""
    wanted = set(alert_ids)
    if not wanted:
        return []
    rows = session.execute(select(OutboxMessage.id, OutboxMessage.headers)
                           .where(OutboxMessage.dedup_key.like(f"{DIGEST_PREFIX}%"))
                           .execution_options(yield_per=500))
    return [row_id for row_id, headers in rows
            if wanted.intersection(int(x) for x in ((headers or {}).get(TALLY) or {}).get("quoted") or [])]


@dataclass(frozen=True)
class Push:
    """The new alerts one person is to be pushed, and where (chat first, else e-mail)."""

    user_id: int
    chat_id: int | None
    email: str | None
    alerts: list[Alert]


def fold_pushes(session: Session, pushes: Mapping[int, Push]) -> tuple[set[int], list[OutboxMessage]]:
    """Apply the digest rule (module docstring) to a set-based write's pushes, per person.

    Returns the people whose pushes are digested (the caller queues no single push for them)
    and the new digest rows to queue with the caller's other rows; digests still waiting were
    rewritten here. A handful of statements per call, whatever its size.
    """
    limit = digest_threshold()
    reachable = {uid: p for uid, p in pushes.items() if p.alerts and (p.chat_id or p.email)}
    if limit <= 0 or not reachable:
        return set(), []
    ids = sorted(reachable)
    waiting_digest: dict[int, tuple[int, dict[str, Any]]] = {}
    waiting_alerts: dict[int, int] = {}
    out = table_of(OutboxMessage)
    for low in range(0, len(ids), _SLICE):
        part = ids[low:low + _SLICE]
        pending = (OutboxMessage.status == OutboxStatus.PENDING,
                   OutboxMessage.to_user_id.in_(part))
        for row_id, user_id, headers in session.execute(
                select(OutboxMessage.id, OutboxMessage.to_user_id, OutboxMessage.headers)
                .where(*pending, OutboxMessage.dedup_key.like(f"{DIGEST_PREFIX}%"))
                .order_by(OutboxMessage.id)):
            if user_id is not None:  # the latest one wins
                waiting_digest[user_id] = (row_id, headers or {})
        for user_id, count in session.execute(
                select(OutboxMessage.to_user_id, func.count())
                .where(*pending, OutboxMessage.dedup_key.like(f"{ALERT_PREFIX}%"))
                .group_by(OutboxMessage.to_user_id)):
            if user_id is not None:
                waiting_alerts[user_id] = count
    starting = [uid for uid in ids if uid not in waiting_digest
                and waiting_alerts.get(uid, 0) + len(reachable[uid].alerts) > limit]
    earlier = _withdraw_waiting_pushes(session, [u for u in starting if waiting_alerts.get(u)])
    folded: set[int] = set()
    rows: list[OutboxMessage] = []
    for uid in ids:
        push = reachable[uid]
        open_digest = waiting_digest.get(uid)
        if open_digest is None and uid not in starting:
            continue
        folded.add(uid)
        if open_digest is not None:
            row_id, headers = open_digest
            tally = Tally.from_json(session, headers.get(TALLY))
            tally.add(push.alerts)
            done = session.execute(
                update(out).where(out.c.id == row_id, out.c.status == OutboxStatus.PENDING)
                .values(body_text=tally.text(), subject=tally.subject(),
                        headers={**headers, TALLY: tally.to_json()}))
            if getattr(done, "rowcount", 0) == 1:
                continue  # else the sender claimed it meanwhile: a new digest follows it
        tally = Tally()
        tally.add(earlier.get(uid, []) + push.alerts)
        key = f"{DIGEST_PREFIX}user:{uid}:{ALERT_PREFIX}{push.alerts[0].id}"
        if push.chat_id is not None:
            row = chat_message(dedup_key=key, chat_id=push.chat_id, user_id=uid,
                               text=tally.text())
        else:
            row = email_message(dedup_key=key, to=push.email or "", subject=tally.subject(),
                                text=tally.text(), user_id=uid)
        row.headers = {TALLY: tally.to_json()}
        rows.append(row)
    return folded, rows


def _withdraw_waiting_pushes(session: Session, user_ids: Sequence[int]) -> dict[int, list[Alert]]:
    """Take back the single alert pushes still waiting for these people (a digest about to
    start will tell them), and return their alerts, oldest first. Only rows still pending are
    deleted: one the sender has claimed meanwhile goes out alone, and is not in the digest."""
    if not user_ids:
        return {}
    taken: list[tuple[int, int]] = []
    for low in range(0, len(user_ids), _SLICE):
        # An ORM DELETE, synchronised: a push queued earlier in this session (an interactive
        # alert) leaves the session with its row. A Core DELETE left it there, stale, and on
        # SQLite the digest inserted next reuses the deleted row's id: the session then showed
        # the old push under the digest's id (and a change to it would have written the digest).
        for user_id, key in session.execute(
                delete(OutboxMessage).where(
                    OutboxMessage.status == OutboxStatus.PENDING,
                    OutboxMessage.to_user_id.in_(user_ids[low:low + _SLICE]),
                    OutboxMessage.dedup_key.like(f"{ALERT_PREFIX}%"))
                .returning(OutboxMessage.to_user_id, OutboxMessage.dedup_key),
                execution_options={"synchronize_session": "fetch"}):
            number = key.split(":")[1]
            if user_id is not None and number.isdigit():  # the WHERE names the user
                taken.append((user_id, int(number)))
    alert_ids = sorted({a for _u, a in taken})
    alerts: dict[int, Alert] = {}
    for low in range(0, len(alert_ids), _SLICE):
        alerts.update((a.id, a) for a in session.scalars(
            select(Alert).where(Alert.id.in_(alert_ids[low:low + _SLICE]))))
    earlier: dict[int, list[Alert]] = {}
    for user_id, alert_id in sorted(taken, key=lambda t: t[1]):
        if alert_id in alerts:
            earlier.setdefault(user_id, []).append(alerts[alert_id])
    return earlier


_SLICE = 1000
