"""Statements an e-mail costs, per kind: the intake's round trips are pinned (issue 20).

Why pinned and not bounded: each statement is a round trip on PostgreSQL and a piece of the
8–10 ms an e-mail costs against a 0.5 ms fetch + commit + MOVE floor; a change that adds one
should say so here. The counts are of :meth:`mail.intake.IntakeCore.ingest` (one transaction:
the inbound row, the raw message, the domain's rows, the reply, the folder's ``last_uid``),
every statement the engine executes included (BEGIN IMMEDIATE on SQLite, SAVEPOINTs).

PostgreSQL has no BEGIN statement, and writes a declaration's lines with fewer statements.
``clauses.idempotent.insert_once`` queues each reply and
alert as one ``INSERT … ON CONFLICT DO NOTHING RETURNING`` (before: SELECT, SAVEPOINT, INSERT,
RELEASE, i.e. three statements more per outbox row or alert).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from clauses.context import Context
from mail.outcome import MailKey
from storage.models import Alert, DeclarationRevision, InboundMail, OutboxMessage
from tests.mail.conftest import PDF_BYTES, XLSX_MIME, core, mail_config, make_mail, xlsx_bytes
from tests.perf.test_query_counts import breakdown, counted

COMPANY = "chef@btp-rhone.test"
PRESCRIBER = "conseiller@ml-sud.test"

CASES: dict[str, tuple[dict[str, int], Any]] = {
    # kind: (statements on each backend, the message); SQLite's count has its BEGIN IMMEDIATE.
    "declaration": ({"sqlite": 20, "postgresql": 16}, lambda: make_mail(
        COMPANY, "Déclaration des heures", "Bonjour, ci-joint nos heures de mai.",
        attachments=[("heures.xlsx", xlsx_bytes([["2025-017", 2, "Dupont", "Marie", "05/2025", 35, 0]]),
                      XLSX_MIME)])),
    "candidature": ({"sqlite": 22, "postgresql": 21}, lambda: make_mail(
        PRESCRIBER, "Candidature Léa Martin",
        "Bonjour,\n\nNom : Martin\nPrénom : Léa\nCritères : RSA\nEntreprise : BTP Rhône\n\nMerci.",
        attachments=[("cv.pdf", PDF_BYTES, "application/pdf")])),
    "autre": ({"sqlite": 14, "postgresql": 13}, lambda: make_mail(COMPANY, "Question chantier",
                                    "Bonjour,\n\nPouvez-vous me rappeler au sujet du chantier ?")),
    "expediteur_inconnu": ({"sqlite": 15, "postgresql": 14}, lambda: make_mail("newsletter@inconnu.test", "Offre spéciale",
                                                  "Découvrez nos offres du mois.")),
    "automatique": ({"sqlite": 7, "postgresql": 6}, lambda: make_mail(COMPANY, "Absence du bureau", "Je suis absent.",
                                         headers={"Auto-Submitted": "auto-replied"})),
}


@pytest.mark.parametrize("kind", list(CASES))
def test_statements_per_e_mail_kind(ctx: Context, world: dict[str, Any], kind: str) -> None:
    expected, build = CASES[kind]
    intake = core(ctx, mail_config())
    intake.sync_state("perf", "INBOX", 1)
    with counted(ctx.db.engine) as log:
        intake.ingest(MailKey("perf", "INBOX", 1, 1), build())
    with ctx.db.session() as s:
        row = s.scalars(select(InboundMail)).one()
        assert row.kind == kind, row.result
        assert row.raw_document_id is not None
        replies = s.scalars(select(OutboxMessage.dedup_key)).all()
        alerts = s.scalars(select(Alert.kind)).all()
        revisions = s.scalars(select(DeclarationRevision.id)).all()
    statements = [x for unit in log.transactions for x in unit]
    print(f"\n{kind}: {len(statements)} statements: {breakdown(statements)}")
    assert len(statements) == expected[ctx.db.dialect], breakdown(statements)
    # What those statements wrote, per kind: nothing lost by cutting round trips.
    if kind == "declaration":
        assert len(revisions) == 1 and len(replies) == 1
    elif kind in ("candidature", "autre"):
        assert alerts and replies
    elif kind == "expediteur_inconnu":
        assert alerts and any(k.startswith("mail:unknown-sender:") for k in replies)
    else:
        assert not replies and not alerts


def test_a_batch_of_these_e_mails_shares_its_begin_and_its_folder_update(
        ctx: Context, world: dict[str, Any]) -> None:
    """The five kinds in one :meth:`~mail.intake.IntakeCore.ingest_many`: one transaction, and
    the statements of each e-mail alone less, for every e-mail after the first, the folder's
    ``last_uid`` UPDATE and (SQLite) the BEGIN IMMEDIATE — what batching saves in round trips."""
    from mail.intake import Incoming

    intake = core(ctx, mail_config())
    intake.sync_state("perf", "INBOX", 1)
    items = [Incoming(MailKey("perf", "INBOX", 1, n + 1), build())
             for n, (_, build) in enumerate(CASES.values())]
    with counted(ctx.db.engine) as log:
        statuses = intake.ingest_many(items)
    units = [unit for unit in log.transactions if unit]
    statements = [x for unit in units for x in unit]
    print(f"\nbatch of {len(items)}: {len(statements)} statements: {breakdown(statements)}")
    alone = sum(expected[ctx.db.dialect] for expected, _ in CASES.values())
    shared = (2 if ctx.db.dialect == "sqlite" else 1) * (len(items) - 1)
    assert len(units) == 1 and len(statements) == alone - shared, breakdown(statements)
    with ctx.db.session() as s:
        kinds = s.scalars(select(InboundMail.kind).order_by(InboundMail.uid)).all()
    assert kinds == list(CASES) and len(statuses) == len(items)
