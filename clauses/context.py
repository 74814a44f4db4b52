"""What every use case needs, bundled once by the wiring and passed down.

The domain never reads configuration or the environment itself: the wiring (clausebot/) builds a
`Context` and hands it to the bot, the mail intake and the scheduler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from clauses.clock import Clock
from storage.db import Database
from storage.documents import DocumentStore

if TYPE_CHECKING:  # the rulebook pulls pydantic; the type alone keeps this module import-light
    from clauses.rulebook import Rulebook


DEFAULT_AGENCY_NAME = "Agence clauses sociales"


@dataclass(frozen=True)
class AgencyIdentity:
    """The agency as its documents present it (settings ``[agency]``): plain data, so the
    renderers (in a child process too) get it pickled with the figures."""

    name: str = DEFAULT_AGENCY_NAME
    address: str | None = None
    logo_file: str | None = None
    convention_reference: str | None = None
    signature: str | None = None


@dataclass(frozen=True)
class Policy:
    """Tunables that are the agency's choices rather than territory rules.

    The defaults written here are the only ones: the settings (``clausebot/settings.py``), the
    mail configuration and the scheduling rules (:class:`clauses.due.DueRules`) read them from
    :data:`DEFAULTS`, so a default changed here changes everywhere.
    """

    small_cell_threshold: int = 3
    retention_rejected_months: int = 3
    retention_inactive_months: int = 24
    retention_proof_months: int = 24
    retention_raw_mail_days: int = 90
    retention_chat_days: int = 30
    outbox_max_attempts: int = 8
    alert_digest_threshold: int = 10
    """More alerts than this for one person in one scheduler write: one digest message."""
    agency_name: str = DEFAULT_AGENCY_NAME
    agency_email: str = "clauses@agence.invalid"
    reminder_day: int = 5
    second_reminder_after_days: int = 7
    annual_bilan_date: str = "01-31"
    annual_bilan_auto: bool = False
    agency: AgencyIdentity | None = None


DEFAULTS = Policy()
"""The agency's defaults, for the modules that declare the same settings (see :class:`Policy`)."""


@dataclass
class Context:
    db: Database
    documents: DocumentStore
    rulebook: Rulebook
    clock: Clock = field(default_factory=Clock)
    policy: Policy = field(default_factory=Policy)
