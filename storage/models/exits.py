"""Questions asked to an employer about what became of a person: at the exit, then 6 months on.

One row per (contract, kind): the scheduler asks once, the answer (a rulebook situation key) is
kept with who gave it and when. The exit itself also lives on the participant
(`Participant.exit_situation`, `exit_date`), which is what the bilans read; the 6-month
follow-up ("suivi dans l'emploi") only lives here.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, utcnow

EXIT_QUESTION = "sortie"
FOLLOWUP_QUESTION = "suivi_6_mois"


class ExitFollowup(Base):
    __tablename__ = "exit_followups"
    __table_args__ = (UniqueConstraint("contract_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id"), index=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contracts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    asked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[dt.datetime | None]
    situation: Mapped[str | None] = mapped_column(String(60))
    answered_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    answered_by_email: Mapped[str | None] = mapped_column(String(254))
