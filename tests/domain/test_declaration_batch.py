"""The file path (`record_lines`) against the per-line path it replaces, line for line.

Why: the set-based path re-implements the order of checks of `find_contract` then
`record_declaration` over a whole file; the surest test is to run a file full of traps through
both and require the same answers and the same rows (declarations, revisions, audit, last
activity), then check replays, races and authorisation on their own.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from clauses import declaration_batch
from clauses.actors import Actor
from clauses.declaration_batch import (
    DeclarationLine,
    LineResult,
    record_lines,
    record_lines_one_by_one,
)
from clauses.declarations import record_declaration
from storage.models import (
    AuditEntry,
    Channel,
    DeclarationRevision,
    HourDeclaration,
    Participant,
    Role,
)
from tests import factories as f

D = Decimal


def world(ctx, s: Session) -> dict[str, Any]:
    """The factories' territory plus the people a company's file trips over."""
    t = f.territory(s)
    lot3 = f.lot(s, t["market"], 3, hours=500)
    e3 = f.engagement(s, lot3, t["company"])
    f.contract(s, f.participant(s, "Martin", "Paul"), t["engagement"])  # not validated
    lea = f.participant(s, "Durand", "Léa", validated_by=t["facilitator"])
    f.contract(s, lea, t["engagement"])
    f.contract(s, lea, e3)  # two contracts: the lot must be given
    f.contract(s, f.participant(s, "Lefèvre", "Hélène", validated_by=t["facilitator"]), e3)
    other = f.company(s, "Autre SARL")
    e_other = f.engagement(s, t["lot"], other)
    f.contract(s, f.participant(s, "Bernard", "Luc", validated_by=t["facilitator"]), e_other)
    actor = Actor.from_user(t["company_user"], Channel.EMAIL)
    # Already declared by chat: the file corrects it.
    record_declaration(ctx, s, actor, contract_id=t["contract"].id,
                       month=dt.date(2025, 2, 1), work_hours=D(20), source=Channel.TELEGRAM,
                       idempotency_key="tg:1")
    return {"actor": actor, "contract": t["contract"].id}


def line(n: int, last: str, first: str | None, month: tuple[int, int], work: Any,
         training: Any = 0, *, lot: int | None = 2, reason: str | None = None,
         market: str | None = "2025-017") -> DeclarationLine:
    return DeclarationLine(key=f"mail:test:f0:l{n}", last_name=last, first_name=first,
                           market_reference=market, lot_number=lot,
                           month=dt.date(month[0], month[1], 1), work_hours=D(str(work)),
                           training_hours=D(str(training)), correction_reason=reason)


TRAPS = [
    line(2, "Dupont", "Marie", (2025, 3), 35),                               # created
    line(3, "DUPONT", "marie", (2025, 4), 160),                              # created, above full time
    line(4, "Dupont", "Marie", (2025, 3), 40),                               # same month again
    line(5, "Dupont", "Marie", (2025, 3), 40, reason="oubli"),               # corrects line 2
    line(6, "Dupont", "Marie", (2025, 4), 160, reason="rien"),               # unchanged
    line(7, "Dupont", "Marie", (2025, 5), 250),                              # above the legal maximum
    line(8, "Dupont", "Marie", (2025, 7), 10),                               # future month
    line(9, "Martin", "Paul", (2025, 3), 10),                                # not validated
    line(10, "Durand", "Léa", (2025, 3), 20, lot=None),                      # ambiguous
    line(11, "Durand", "Léa", (2025, 3), 20, lot=3),                         # created
    line(12, "Bernard", "Luc", (2025, 3), 20),                               # another company's
    line(13, "Personne", None, (2025, 3), 20),                               # nobody
    line(14, "Dupont", "Marie", (2025, 6), 0),                               # current month, zero
    line(15, "Lefèvre", "Hélène", (2025, 3), "12.5", 3, lot=3),                # accents
    line(16, "Dupont", "Marie", (2025, 2), 50, reason="heures sup."),        # corrects the chat's
    line(17, "Dupont", "Marie", (2025, 2), 55, reason="encore"),             # and again
    line(18, "Dupont", None, (2025, 11), 5, market=None, lot=None),          # future
    line(19, "Durand", "Léa", (2025, 1), 5, lot=3),                          # before the contract: not found
    line(20, "Durand", "Léa", (2025, 4), 5, lot=3, reason="x"),              # nothing to correct
    line(21, "Dupont", "Marie", (2025, 3), 40),                              # as line 5: unchanged
    line(22, "Dupont", "Marie", (2025, 3), "40.00", 0),                      # the same, written otherwise
    line(23, "Dupont", "Marie", (2025, 3), 40, 1),                           # training differs
]


def summary(results: list[LineResult]) -> list[tuple]:
    return [(r.status, r.participant_name, r.counted, r.warnings,
             type(r.error).__name__ if r.error else None, r.error.message_fr if r.error else None)
            for r in results]


def stored(s: Session) -> dict[str, Any]:
    """Everything the two paths write, keyed by (contract, month) rather than by id."""
    decls = {d.id: (d.contract_id, d.month) for d in s.scalars(select(HourDeclaration))}
    return {
        "declarations": sorted(
            (d.contract_id, d.month, d.work_hours, d.training_hours, d.counted_hours, d.revision,
             d.source, d.declared_by_email, d.proof_document_id is None)
            for d in s.scalars(select(HourDeclaration))),
        "revisions": sorted(
            (decls[r.declaration_id], r.revision, r.work_hours, r.training_hours, r.counted_hours,
             r.reason, r.idempotency_key, r.source)
            for r in s.scalars(select(DeclarationRevision))),
        "audit": sorted(
            (a.action, decls[a.subject_id], a.detail["participant_id"], a.detail["month"], a.channel)
            for a in s.scalars(select(AuditEntry).where(AuditEntry.subject_type == "declaration"))),
        "active": sorted(p.id for p in s.scalars(select(Participant))
                         if p.last_activity_at.replace(tzinfo=None) == dt.datetime(2025, 6, 16, 10, 0)),
    }


@pytest.fixture
def built(ctx) -> dict[str, Any]:
    with ctx.db.session() as s:
        return world(ctx, s)


def run(ctx, built, path, lines=TRAPS) -> tuple[list[tuple], dict[str, Any]]:
    """Run `lines` through `path`, return its answers and rows, and leave the database as built."""
    with ctx.db.session() as s:
        results = path(ctx, s, built["actor"], lines, source=Channel.EMAIL)
        s.flush()
        out = summary(results), stored(s)
        s.rollback()
    return out


def test_the_file_path_answers_and_writes_like_the_per_line_path(ctx, built):
    expected, expected_rows = run(ctx, built, record_lines_one_by_one)
    got, rows = run(ctx, built, record_lines)
    for n, (want, have) in enumerate(zip(expected, got, strict=True), start=2):
        assert have == want, f"line {n}"
    assert rows == expected_rows
    # The traps did trip, as the per-line path says.
    statuses = [s[0] or s[4] for s in got]
    assert statuses == [
        "created", "created", "DuplicateDeclarationError", "corrected", "unchanged",
        "HoursAboveMaximumError", "MonthInFutureError", "ParticipantNotValidatedError",
        "DomainError", "created", "DomainError", "DomainError", "created", "created",
        "corrected", "corrected", "MonthInFutureError", "DomainError",
        "NothingToCorrectError", "unchanged", "unchanged", "DuplicateDeclarationError",
    ]
    assert "Précisez le marché et le lot" in got[8][5]
    assert got[1][3] and "temps plein" in got[1][3][0]
    assert [r[5] for r in rows["revisions"] if r[0] == (built["contract"], dt.date(2025, 2, 1))] == [
        None, "heures sup.", "encore"]


def test_a_replayed_file_counts_nothing_twice(ctx, built):
    with ctx.db.session() as s:
        first = record_lines(ctx, s, built["actor"], TRAPS, source=Channel.EMAIL)
    with ctx.db.session() as s:
        before = stored(s)
        again = record_lines(ctx, s, built["actor"], TRAPS, source=Channel.EMAIL)
        s.flush()
        assert stored(s)["revisions"] == before["revisions"]
        assert stored(s)["declarations"] == before["declarations"]
    recorded = [(a, b) for a, b in zip(first, again, strict=True) if a.status in ("created", "corrected")]
    assert recorded and all(b.status == "duplicate" for _, b in recorded)
    assert all(b.declaration_id == a.declaration_id for a, b in recorded)


def test_a_unique_key_race_falls_back_to_one_line_at_a_time(ctx, built, monkeypatch):
    """A concurrent writer stored March between our reads and our writes: the batch's insert
    hits the unique key; its writes are undone and every line goes through its own savepoint,
    so the conflicting line is refused and the others are recorded."""
    lines = [line(2, "Dupont", "Marie", (2025, 3), 35), line(3, "Durand", "Léa", (2025, 3), 20, lot=3)]
    with ctx.db.session() as s:
        s.add(HourDeclaration(contract_id=built["contract"], month=dt.date(2025, 3, 1),
                              work_hours=D(1), training_hours=D(0), counted_hours=D(1),
                              source=Channel.TELEGRAM))
    monkeypatch.setattr(declaration_batch, "_stored_months", lambda *a, **k: {})
    with ctx.db.session() as s:
        results = record_lines(ctx, s, built["actor"], lines, source=Channel.EMAIL)
    assert [r.status for r in results] == [None, "created"]
    assert "déjà déclarées" in results[0].error.message_fr
    with ctx.db.session() as s:
        march = s.scalars(select(HourDeclaration).where(HourDeclaration.month == dt.date(2025, 3, 1))
                          .order_by(HourDeclaration.contract_id)).all()
        assert [d.work_hours for d in march] == [D(1), D(20)]
        assert s.scalar(select(DeclarationRevision).where(
            DeclarationRevision.idempotency_key == "mail:test:f0:l3")) is not None


def test_a_key_used_on_another_slot_is_still_a_replay(ctx, built):
    """The used keys are looked up among the revisions of the slots the lines name; a key
    recorded on another month (same line key, the month rewritten) is not among them, and the
    unique key sends the file to the per-line path: answered as that path answers, nothing
    recorded twice."""
    with ctx.db.session() as s:
        [first] = record_lines(ctx, s, built["actor"], [line(2, "Dupont", "Marie", (2025, 3), 35)],
                               source=Channel.EMAIL)
    assert first.status == "created"
    moved = [line(2, "Dupont", "Marie", (2025, 4), 35), line(3, "Durand", "Léa", (2025, 3), 20, lot=3)]
    expected, expected_rows = run(ctx, built, record_lines_one_by_one, moved)
    got, rows = run(ctx, built, record_lines, moved)
    assert got == expected and rows == expected_rows
    assert [g[0] for g in got] == ["duplicate", "created"]
    assert not any(r[0] == (built["contract"], dt.date(2025, 4, 1)) for r in rows["revisions"])


def test_used_keys_read_the_named_slots_only(ctx, built):
    """A line dated the 31st names the slot (contract, first of the month); the key recorded on
    the same contract's May (asked here on the March slot) is not read."""
    with ctx.db.session() as s:
        results = record_lines(ctx, s, built["actor"], [line(2, "Dupont", "Marie", (2025, 3), 35),
                                                        line(3, "Dupont", "Marie", (2025, 5), 5)],
                               source=Channel.EMAIL)
    assert [r.status for r in results] == ["created", "created"]
    with ctx.db.session() as s:
        found = declaration_batch._candidates(s, built["actor"], [line(2, "Dupont", "Marie", (2025, 3), 35)])
        candidate = declaration_batch._resolve(line(2, "Dupont", "Marie", (2025, 3), 35), found,
                                               declaration_batch._by_full_name(found))
        march = DeclarationLine(key="mail:test:f0:l2", last_name="Dupont", first_name="Marie",
                                market_reference="2025-017", lot_number=2,
                                month=dt.date(2025, 3, 31), work_hours=D(35))
        may_key = DeclarationLine(key="mail:test:f0:l3", last_name="Dupont", first_name="Marie",
                                  market_reference="2025-017", lot_number=2,
                                  month=dt.date(2025, 3, 1), work_hours=D(5))
        used = declaration_batch._used_keys(s, [(march, candidate), (may_key, candidate)])
        assert set(used) == {"mail:test:f0:l2"}
        assert used["mail:test:f0:l2"][1] == D(35)


def test_a_company_only_reaches_its_own_contracts(ctx, built):
    with ctx.db.session() as s:
        intruder = f.user(s, Role.ENTREPRISE, company_id=f.company(s, "Intrus SAS").id)
        actor = Actor.from_user(intruder, Channel.EMAIL)
        [result] = record_lines(ctx, s, actor, [line(2, "Dupont", "Marie", (2025, 3), 35)],
                                source=Channel.EMAIL)
        assert result.status is None and "Aucun contrat trouvé pour DUPONT Marie" in result.error.message_fr
        assert s.scalar(select(HourDeclaration).where(HourDeclaration.month == dt.date(2025, 3, 1))) is None


def test_stored_months_and_new_ids_read_exactly_the_slots_asked(ctx, built):
    """Two contracts, each declared in March and May; asked (Dupont, March) and (Durand, May),
    the crossed pairs (Dupont, May) and (Durand, March) must not come back: on PostgreSQL the
    slots are one join to two unnested arrays, where a month list x a contract list would
    return all four."""
    with ctx.db.session() as s:
        results = record_lines(ctx, s, built["actor"], [
            line(2, "Dupont", "Marie", (2025, 3), 35), line(3, "Dupont", "Marie", (2025, 5), 5),
            line(4, "Durand", "Léa", (2025, 3), 20, lot=3), line(5, "Durand", "Léa", (2025, 5), 7, lot=3),
        ], source=Channel.EMAIL)
    assert [r.status for r in results] == ["created"] * 4
    dupont = built["contract"]
    with ctx.db.session() as s:
        lea = s.scalar(select(HourDeclaration.contract_id).where(
            HourDeclaration.id == results[3].declaration_id))
        asked = {(dupont, dt.date(2025, 3, 1)), (lea, dt.date(2025, 5, 1))}
        months = declaration_batch._stored_months(s, asked)
        assert set(months) == asked
        assert months[(lea, dt.date(2025, 5, 1))].work == D(7)
        assert months[(dupont, dt.date(2025, 3, 1))].id == results[0].declaration_id
        ids = declaration_batch._new_ids(s, sorted(asked))
        assert ids == {(dupont, dt.date(2025, 3, 1)): results[0].declaration_id,
                       (lea, dt.date(2025, 5, 1)): results[3].declaration_id}
        assert declaration_batch._stored_months(s, set()) == {}


def test_a_file_naming_every_market_matches_name_and_market_together(ctx, built):
    """Every line names its market, so the candidates are filtered on (name, market) pairs: a
    person named on one line and a market named on another must not make a match."""
    lines = [line(2, "Dupont", "Marie", (2025, 3), 35),
             line(3, "Durand", "Léa", (2025, 3), 20, lot=3, market="2099-001")]
    expected, expected_rows = run(ctx, built, record_lines_one_by_one, lines)
    got, rows = run(ctx, built, record_lines, lines)
    assert got == expected and rows == expected_rows
    assert got[0][0] == "created"
    assert got[1][4] == "DomainError" and "Aucun contrat trouvé" in got[1][5]
