"""Alerts and outbox messages that quote a person, and how their text is withdrawn.

Both anonymisation and erasure blank them: a name in a past alert or e-mail is personal data too.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from clauses.alert_digest import digests_quoting
from storage.models import (
    Alert,
    Candidature,
    Contract,
    ConversationState,
    OutboxMessage,
    OutboxStatus,
    Participant,
)

REDACTED_FR = "[contenu retiré : données personnelles anonymisées ou effacées (RGPD)]"
CANCELLED_FR = "annulé : données personnelles effacées (RGPD)"


def quoting_messages(session: Session, participant_ids: Sequence[int]) -> tuple[list[int], list[int]]:
    """(alert ids, outbox ids) of the alerts and messages that may quote these persons.

    Alerts about a candidature quote the candidate's name; the messages sent for it (decision,
    alert pushes) are found by their dedup keys (`candidature:<id>:...`, `alert:<id>:...`), and
    the digests that quote those alerts by the ids their tally keeps.
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
    outbox_ids += digests_quoting(session, alert_ids)  # a digest quotes the first alerts' lines
    return alert_ids, outbox_ids


def _mentions(data: object, names: set[str], contract_ids: set[int]) -> bool:
    """Does a conversation's saved data name one of these persons or offer one of their
    contracts? (Chat flows keep `[contract id, ..., "DUPONT Marie"]` rows and chosen ids.)"""
    if isinstance(data, dict):
        if data.get("contract_id") in contract_ids:
            return True
        return any(_mentions(v, names, contract_ids) for v in data.values())
    if isinstance(data, list):
        if data and isinstance(data[0], int) and data[0] in contract_ids:
            return True
        return any(_mentions(v, names, contract_ids) for v in data)
    return isinstance(data, str) and any(n in data.casefold() for n in names)


def scrub_conversations(session: Session, participant_ids: Sequence[int]) -> int:
    """Drop the chat conversations in progress that hold these persons' names (the user
    starts the flow again); returns how many. Must run before the names are overwritten.

    Conversation states are one row per chat user at most, so reading them all is cheap.
    """
    if not participant_ids:
        return 0
    ids = list(participant_ids)
    names = {f"{last} {first}".casefold()
             for last, first in session.execute(
                 select(Participant.last_name, Participant.first_name)
                 .where(Participant.id.in_(ids)))}
    contract_ids = set(session.scalars(select(Contract.id).where(Contract.participant_id.in_(ids))))
    stale = [cid for cid, data in session.execute(select(ConversationState.id, ConversationState.data))
             if _mentions(data, names, contract_ids)]
    if stale:
        session.execute(delete(ConversationState).where(ConversationState.id.in_(stale)),
                        execution_options={"synchronize_session": "fetch"})
    return len(stale)


def scrub_messages(session: Session, participant_ids: Sequence[int]) -> tuple[int, int]:
    """Blank the alerts and outbox messages that quote these persons; (alerts, messages).

    Pending messages are cancelled rather than sent blank; chat conversations in progress that
    hold their names are dropped.
    """
    scrub_conversations(session, participant_ids)
    alert_ids, outbox_ids = quoting_messages(session, participant_ids)
    blank_alerts(session, alert_ids)
    blank_outbox(session, outbox_ids)
    return len(alert_ids), len(outbox_ids)


def blank_alerts(session: Session, alert_ids: Sequence[int]) -> None:
    """Replace these alerts' text (the excerpt may quote a person) by a neutral notice."""
    if alert_ids:
        session.execute(
            update(Alert).where(Alert.id.in_(list(alert_ids))).values(message=REDACTED_FR),
            execution_options={"synchronize_session": "fetch"},
        )


def blank_outbox(session: Session, outbox_ids: Sequence[int]) -> None:
    """Withdraw these outgoing messages: text blanked, pending ones cancelled, and the copies
    already written to the sent-mail Maildir queued for removal (:mod:`clauses.rgpd.mailbox_copies`)."""
    from clauses.rgpd.mailbox_copies import queue_sent_copy

    outbox_ids = list(outbox_ids)
    if not outbox_ids:
        return
    for message_id in session.scalars(select(OutboxMessage.message_id).where(
            OutboxMessage.id.in_(outbox_ids), OutboxMessage.message_id.is_not(None))):
        if message_id is not None:  # the query excludes NULL; the column type does not know
            queue_sent_copy(session, message_id)
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(outbox_ids), OutboxMessage.subject.is_not(None))
        .values(subject="[clausebot] message retiré (RGPD)"),
        execution_options={"synchronize_session": "fetch"},
    )
    session.execute(
        update(OutboxMessage).where(OutboxMessage.id.in_(outbox_ids))
        .values(body_text=REDACTED_FR, body_html=None, reply_markup=None, attachments=[]),
        execution_options={"synchronize_session": "fetch"},
    )
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(outbox_ids),
               OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]))
        .values(status=OutboxStatus.DEAD, last_error=CANCELLED_FR),
        execution_options={"synchronize_session": "fetch"},
    )
