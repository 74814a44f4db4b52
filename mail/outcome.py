"""What processing a message produced, shared by the pipeline and its handlers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from storage.models import MailStatus


@dataclass(frozen=True)
class MailKey:
    """Where a message was found: the unique key of `inbound_mail`."""

    account: str
    folder: str
    uidvalidity: int
    uid: int


@dataclass
class Outcome:
    status: MailStatus
    kind: str
    result: dict[str, Any] = field(default_factory=dict)
    inbound_id: int | None = None
