"""Typed actions the domain offers a person (a button), encoded by each adapter.

Why: the domain used to write the bot's callback strings (``"esc:letter:12"``), which only
worked because ``bot/core.py`` dispatched on the same prefixes. Now a use case says *what* can
be done next (:class:`ActionKind` on a subject id); the outbox row carries it as plain JSON
(``{"text": label, "action": {"kind": ..., "id": ...}}``) and the chat adapter turns it into
its own button data when it delivers the message (``bot.flows.escalation.encode``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ActionKind(StrEnum):
    """What a button asks for; the subject id is an engagement for OPEN_CASE, else a case."""

    OPEN_CASE = "open_case"
    SHOW_CASE = "show_case"
    ASK_CONSENT = "ask_consent"
    SEND_LETTER = "send_letter"
    CONSENT = "consent"
    ALERT_BUYER = "alert_buyer"
    RECORD_DEFAULT = "record_default"
    COMPUTE_PENALTIES = "compute_penalties"
    CLOSE_PENALISED = "close_penalised"
    CLOSE_REGULARISED = "close_regularised"


@dataclass(frozen=True, slots=True)
class ActionButton:
    """One button: a French label and the action it asks for."""

    label: str
    kind: ActionKind
    subject_id: int

    def to_json(self) -> dict[str, Any]:
        """The Bot API button shape, with the typed action in place of callback data."""
        return {"text": self.label, "action": {"kind": self.kind.value, "id": self.subject_id}}


def action_of(button: dict[str, Any]) -> tuple[ActionKind, int] | None:
    """The typed action a stored button carries, if any (adapters call this to encode it)."""
    action = button.get("action")
    if not isinstance(action, dict):
        return None
    try:
        return ActionKind(str(action.get("kind"))), int(action.get("id"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
