"""`IntakeCore.ingest_many`: how long a batch's transaction may hold the database (issue 20).

Why: on SQLite a batch's transaction holds the write lock, which the chat and the scheduler's
jobs wait for; a few long declaration files in one batch must not make them wait seconds. After
`INGEST_BATCH_SECONDS` the batch commits what it has done and goes on in a new transaction.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

import mail.intake
from clauses.context import Context
from mail.intake import Incoming
from mail.outcome import MailKey
from storage.models import InboundMail, MailboxState, MailStatus
from tests.mail.conftest import core, mail_config, make_mail
from tests.perf.test_query_counts import counted

COMPANY = "chef@btp-rhone.test"


def _questions(count: int) -> list[Incoming]:
    return [Incoming(MailKey("t", "INBOX", 7, n + 1),
                     make_mail(COMPANY, f"Question {n}", f"Une question numéro {n}.",
                               message_id=f"<q{n}@btp-rhone.test>")) for n in range(count)]


@pytest.mark.parametrize(("seconds", "transactions"), [(60.0, 1), (0.0, 3)])
def test_a_batch_past_its_time_commits_and_goes_on_in_a_new_transaction(
        ctx: Context, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
        seconds: float, transactions: int) -> None:
    monkeypatch.setattr(mail.intake, "INGEST_BATCH_SECONDS", seconds)
    intake = core(ctx, mail_config())
    intake.sync_state("t", "INBOX", 7)
    with counted(ctx.db.engine) as log:
        statuses = intake.ingest_many(_questions(3))
    assert statuses == [MailStatus.TRAITE] * 3
    assert len([unit for unit in log.transactions if unit]) == transactions
    with ctx.db.session() as s:
        uids = s.scalars(select(InboundMail.uid).order_by(InboundMail.uid)).all()
        last = s.scalars(select(MailboxState.last_uid).where(MailboxState.folder == "INBOX")).one()
    assert uids == [1, 2, 3] and last == 3


def test_a_new_batch_starts_at_the_count_or_the_bytes_held() -> None:
    """One rule for both intakes: 20 messages, or 16 MiB held; a message alone is never refused
    (a large one goes in a batch of its own)."""
    from mail.intake import INGEST_BATCH, INGEST_BATCH_BYTES, starts_new_batch

    assert not starts_new_batch(0, 0, INGEST_BATCH_BYTES * 2)  # alone: always taken
    assert not starts_new_batch(INGEST_BATCH - 1, 0, 10)
    assert starts_new_batch(INGEST_BATCH, 0, 10)
    assert not starts_new_batch(3, INGEST_BATCH_BYTES - 10, 10)  # exactly the limit: fits
    assert starts_new_batch(3, INGEST_BATCH_BYTES - 10, 11)
