"""Recording a whole declaration file at once: the set-based twin of the per-line path.

Why: a spreadsheet carries up to thousands of lines, and resolving then recording them one by
one (:func:`~clauses.declarations.find_contract` then
:func:`~clauses.declarations.record_declaration`) costs eleven statements and a savepoint a
line. Here every read is one query for the whole file (contracts by name, the existing months,
the idempotency keys already used, the validated eligibilities), validation and counting run in
memory with the very functions the chat uses (:func:`validate_declaration`,
:func:`count_month`), and the writes are a few multi-row statements. The number of statements
does not grow with the lines (only with the IN-list chunks, one per :data:`CHUNK` lines).

The semantics are those of the per-line path applied line after line in file order:

* a line names one contract among those the sender may declare for (same matching and same
  messages as ``find_contract``: a contract of another company is simply not found);
* a line whose idempotency key was already used (the same message replayed) records nothing
  and says so;
* a later line sees what an earlier one recorded: a second line for the same month is refused,
  a correction line corrects it (a new revision, never a silent overwrite);
* refused lines do not stop the others; every recorded change appends a revision, an audit
  entry and refreshes the person's last activity.

If a unique key is hit anyway (a concurrent writer recorded the same month between our reads
and our writes), the batch's writes are rolled back to their savepoint and the file goes
through the per-line path, where each line has its own savepoint: a conflicting line never
loses the others.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    Table,
    and_,
    any_,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType, String

from clauses.actors import Actor
from clauses.authz import Action, scope_contracts
from clauses.context import Context
from clauses.counting import count_month, month_start
from clauses.declaration_control import status_after_correction
from clauses.declaration_rules import declaration_inputs, validate_declaration
from clauses.declarations import (
    CONTRACT_DATES,
    MAX_CANDIDATES,
    contract_not_resolved,
    find_contract,
    record_declaration,
    validated_eligibility,
)
from clauses.declaring.lookup import (
    is_running_during,
    joined_to_market,
    month_bounds,
    running_in_months,
)
from clauses.eligibility import clause_eligibility_end
from clauses.errors import DomainError
from storage.db import _unicode_lower
from storage.models import (
    AuditEntry,
    Channel,
    Contract,
    DeclarationRevision,
    HourDeclaration,
    Lot,
    Market,
    Participant,
    person_name,
)
from storage.models.base import table_of

CHUNK = 2000
"""IN-list size: one query per kind for a file at the default limit (2,000 lines), and far
below SQLite's and PostgreSQL's bound-parameter limits."""


@dataclass(frozen=True, slots=True)
class DeclarationLine:
    """One line of a file, as the company wrote it; `key` makes its replay a no-op."""

    key: str
    last_name: str
    first_name: str | None
    market_reference: str | None
    lot_number: int | None
    month: dt.date
    work_hours: Decimal
    training_hours: Decimal = Decimal(0)
    correction_reason: str | None = None


@dataclass(frozen=True, slots=True)
class LineResult:
    """What became of one line: recorded (`status`) or refused (`error`, saying what to fix)."""

    status: str | None = None  # "created" | "corrected" | "unchanged" | "duplicate"
    declaration_id: int | None = None
    participant_name: str | None = None
    counted: Decimal | None = None
    warnings: tuple[str, ...] = ()
    error: DomainError | None = None


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A contract the sender may declare for, with what validation and counting need."""

    contract_id: int
    contract_type: str
    dates: tuple[Any, ...]
    """Contract, lot and market (start, end), in :data:`CONTRACT_DATES` order."""
    participant_id: int
    participant_name: str
    first_entry: dt.date | None
    last_lower: str
    first_lower: str
    lot_number: int
    market_reference: str

    @property
    def start(self) -> dt.date:
        return self.dates[0]

    @property
    def end(self) -> dt.date | None:
        return self.dates[1]


@dataclass(slots=True)
class _Month:
    """Current figures of one (contract, month), as stored or as this file leaves them."""

    id: int | None
    work: Decimal
    training: Decimal
    counted: Decimal
    revision: int
    proof_document_id: int | None = None
    changed: bool = False
    insert_index: int | None = None


@dataclass
class _Writes:
    """Rows to write once every line is decided, in file order."""

    new_months: list[tuple[tuple[int, dt.date], _Month]] = field(default_factory=list)
    revisions: list[tuple[_Month, tuple[Any, ...]]] = field(default_factory=list)
    """(declaration, its new revision's values in :data:`_REVISION_COLUMNS` order)."""
    audits: list[tuple[_Month, str, int, dt.date]] = field(default_factory=list)
    participants: set[int] = field(default_factory=set)


_REVISION_COLUMNS = ("revision", "work_hours", "training_hours", "counted_hours", "source",
                     "declared_by_user_id", "declared_by_email", "reason", "idempotency_key")


NAME_CHUNK = 10_000
"""IN-list size of the names in :func:`_candidates`: SQLite computes ``lower()`` (a Python
function there) for every person of the scope once per statement, so one statement for a
10,000-line file instead of five scans (19 s of 58 at national size). Below SQLite's 32,766
and PostgreSQL's 65,535 bound parameters."""


def _chunks(values: Iterable[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    ordered = sorted(set(values))
    for start in range(0, len(ordered), size):
        yield ordered[start:start + size]


def _postgres(session: Session) -> bool:
    return session.connection().dialect.name == "postgresql"


def _batches(session: Session, values: Iterable[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    """:func:`_chunks` on SQLite (bound-parameter limits); one batch on PostgreSQL, where
    :func:`_among` sends the values as one array parameter."""
    return _chunks(values, 1 << 30 if _postgres(session) else size)


def _among(session: Session, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN (values)``: an expanded IN list on SQLite, ``column = ANY(%s)`` with one
    array parameter on PostgreSQL. Why: psycopg rewrites a statement of 2,000 placeholders
    at every execution (0.3 s of a 10,000-line file on territory PostgreSQL) and the server
    plans it anew; one array keeps the statement text constant, and the planner still uses
    the index (``= ANY`` is an index condition)."""
    if _postgres(session):
        item = String() if isinstance(column.type, NullType) else column.type  # lower(...)
        return column == any_(bindparam(None, list(values), type_=ARRAY(item)))
    return column.in_(values)


# -- reads: one query per kind -------------------------------------------------------------------


def _candidates(session: Session, actor: Actor, lines: Sequence[DeclarationLine]
                ) -> dict[str, list[_Candidate]]:
    """Every declarable contract of the persons named, by their name as the database lowers it.

    Matching on the database's ``lower()`` output (not Python's) keeps the per-line query's
    exact semantics, accents included. Only contracts running in the file's months, and, when
    every line names its market, only those markets: :func:`_resolve` filters each line by its
    own month and market anyway, and a facilitator's file would otherwise fetch every contract
    of every namesake in the territory (111,000 contracts for 5,000 names at national size).
    """
    last_names = {line.last_name.strip().lower() for line in lines}
    first_month = min(month_start(line.month) for line in lines)
    last_month = max(month_start(line.month) for line in lines)
    references = {(line.market_reference or "").strip() for line in lines}
    # The (name, market) pairs the lines ask for, when every line names its market: the query
    # returns names x markets (38,000 rows for a 10,000-line file at national size, 10,000 of
    # them asked for), and a row no line can pick is dropped before it is built.
    pairs = ({(line.last_name.strip().lower(), (line.market_reference or "").strip())
              for line in lines} if "" not in references else None)
    last_lower = func.lower(Participant.last_name)
    # SQLite's lower() is a Python function (storage.db), called back for each row and each
    # use: the WHERE clause filters with it, the selected names are lowered here by that same
    # function (57,000 rows, two call-backs each, for a national file). PostgreSQL's own.
    postgres = _postgres(session)
    lower: Callable[[Any], Any] = (lambda value: value) if postgres else _unicode_lower
    lowered = ((last_lower, func.lower(Participant.first_name)) if postgres
               else (Participant.last_name, Participant.first_name))
    base = (
        joined_to_market(select(
            Contract.id, Contract.contract_type, Participant.id, Participant.last_name,
            Participant.first_name, Participant.first_entry_date, *lowered,
            Lot.number, Market.reference, *CONTRACT_DATES,
        ))
        .where(scope_contracts(actor, Action.DECLARATION_WRITE), Participant.anonymised_at.is_(None),
               running_in_months(first_month, last_month))
        .order_by(Contract.id)
    )
    if pairs is not None:
        base = base.where(_among(session, Market.reference, sorted(references)))
    found: dict[str, list[_Candidate]] = {}
    # Core rows fetched at once (the session's connection, ``.all()``), not ORM rows nor a
    # row-by-row iteration: for the 57,000 rows of such a file the ORM's row processing cost
    # 0.34 s and Core's fetchone per row 0.5 s (under load), for plain columns.
    conn = session.connection()
    for chunk in _batches(session, last_names, NAME_CHUNK):
        for r in conn.execute(base.where(_among(session, last_lower, chunk))).all():
            last = lower(r[6])
            if pairs is not None and (last, r[9]) not in pairs:
                continue
            cand = _Candidate(
                contract_id=r[0], contract_type=r[1], participant_id=r[2],
                participant_name=person_name(r[3], r[4]), first_entry=r[5], last_lower=last,
                first_lower=lower(r[7]), lot_number=r[8], market_reference=r[9],
                dates=tuple(r[10:]),
            )
            found.setdefault(cand.last_lower, []).append(cand)
    return found


def _by_full_name(found: dict[str, list[_Candidate]]) -> dict[tuple[str, str], list[_Candidate]]:
    """The candidates by (last, first) name, in the same order: a line naming the first name
    looks up its few contracts instead of filtering every namesake's (a common last name
    has hundreds at national size)."""
    out: dict[tuple[str, str], list[_Candidate]] = {}
    for last, candidates in found.items():
        for c in candidates:
            out.setdefault((last, c.first_lower), []).append(c)
    return out


def _resolve(line: DeclarationLine, found: dict[str, list[_Candidate]],
             by_full_name: dict[tuple[str, str], list[_Candidate]]) -> _Candidate:
    """The one contract a line designates, with ``find_contract``'s filters and refusals
    (``by_full_name``: :func:`_by_full_name` of ``found``, built once per file)."""
    last = line.last_name.strip().lower()
    if line.first_name:
        matches = by_full_name.get((last, line.first_name.strip().lower()), [])
    else:
        matches = found.get(last, [])
    if line.market_reference:
        reference = line.market_reference.strip()
        matches = [c for c in matches if c.market_reference == reference]
    if line.lot_number is not None:
        matches = [c for c in matches if c.lot_number == line.lot_number]
    month_first, month_last = month_bounds(line.month)
    matches = [c for c in matches if is_running_during(c.start, c.end, month_first, month_last)]
    if len(matches) != 1:
        raise contract_not_resolved(
            line.last_name, line.first_name, line.market_reference, line.lot_number,
            [(c.market_reference, c.lot_number) for c in matches[:MAX_CANDIDATES]],
        )
    return matches[0]


def _for_slots(session: Session, slots: Iterable[tuple[int, dt.date]], query: Any) -> Iterator[Any]:
    """``query`` (over HourDeclaration) narrowed to exactly these (contract, month) slots.

    SQLite: one statement per month (and per :data:`CHUNK` contracts), ``month = ? AND
    contract_id IN (...)``, a lookup in the (contract_id, month) unique index, whereas SQLite
    answers a row-value ``(contract_id, month) IN (...)`` by scanning the whole index (0.17 s
    a file at 4.9 million declarations). PostgreSQL: ONE statement, joined to the slots
    unnested from two array parameters, each a lookup in the same index (a file spread over
    23 months cost 23 round trips and 23 plans per kind of read).
    """
    slots = sorted(set(slots))
    if not slots:
        return
    if _postgres(session):
        wanted = select(
            func.unnest(bindparam(None, [c for c, _ in slots], type_=ARRAY(Integer))).label("c"),
            func.unnest(bindparam(None, [m for _, m in slots], type_=ARRAY(Date))).label("m"),
        ).subquery()
        yield query.join(wanted, and_(HourDeclaration.contract_id == wanted.c.c,
                                      HourDeclaration.month == wanted.c.m))
        return
    by_month: dict[dt.date, set[int]] = {}
    for contract_id, month in slots:
        by_month.setdefault(month, set()).add(contract_id)
    for month, contract_ids in sorted(by_month.items()):
        for chunk in _chunks(contract_ids):
            yield query.where(HourDeclaration.month == month, HourDeclaration.contract_id.in_(chunk))


def _stored_months(session: Session, slots: set[tuple[int, dt.date]]) -> dict[tuple[int, dt.date], _Month]:
    """Existing declarations of exactly these (contract, month) pairs, locked as the per-line
    path locks its one row (the pairs rather than contracts x months: a file spread over a
    year would otherwise lock and load every other month of those contracts too)."""
    query = (select(HourDeclaration.id, HourDeclaration.contract_id, HourDeclaration.month,
                    HourDeclaration.work_hours, HourDeclaration.training_hours,
                    HourDeclaration.counted_hours, HourDeclaration.revision,
                    HourDeclaration.proof_document_id)
             .with_for_update(of=HourDeclaration))
    out: dict[tuple[int, dt.date], _Month] = {}
    for statement in _for_slots(session, slots, query):
        for decl_id, contract_id, month, work, training, counted, revision, proof in \
                session.connection().execute(statement).all():
            out[(contract_id, month)] = _Month(decl_id, Decimal(work), Decimal(training),
                                               Decimal(counted), revision, proof)
    return out


def _new_ids(session: Session, slots: list[tuple[int, dt.date]]) -> dict[tuple[int, dt.date], int]:
    """The ids of the declarations just inserted, by their unique key, read as
    :func:`_stored_months` reads (ids only: the figures are the ones just written)."""
    query = select(HourDeclaration.id, HourDeclaration.contract_id, HourDeclaration.month)
    ids: dict[tuple[int, dt.date], int] = {}
    for statement in _for_slots(session, slots, query):
        ids.update(((contract_id, month), decl_id) for decl_id, contract_id, month
                   in session.connection().execute(statement).all())
    return ids


def _used_keys(session: Session, lines: Sequence[tuple[DeclarationLine, _Candidate]]
               ) -> dict[str, tuple[int, Decimal]]:
    """Idempotency keys of ``lines`` already recorded: key -> (declaration id, its counted hours).

    Looked up among the revisions of the (contract, month) slots the lines resolve to, not
    among all revisions: the cost follows the file, not the history. (A lone ``idempotency_key
    IN (...)`` made SQLite scan every revision, 4.9 million at national size: its statistics
    count the NULL keys of chat and import revisions as one value, so the unique index looks
    useless to it; and with ``idempotency_key IS NOT NULL`` in the WHERE clause PostgreSQL
    started from the keys' index, i.e. from every keyed revision of the history.) A key is
    derived from the message, or from the contract and month for a history file, so a replay
    names the same slot. Should a key come back on another slot (a contract added in between
    changes the match), the revision's unique key refuses the insert and the file goes through
    the per-line path, whose lookup is by the key alone.
    """
    keys = {line.key for line, _ in lines}
    slots = {(candidate.contract_id, month_start(line.month)) for line, candidate in lines}
    # Driven by the (contract_id, month) unique index, then the revisions by declaration: a
    # lookup on both backends; the keys (NULL ones included) are matched here.
    query = (select(DeclarationRevision.idempotency_key, HourDeclaration.id,
                    HourDeclaration.counted_hours)
             .join(DeclarationRevision, DeclarationRevision.declaration_id == HourDeclaration.id))
    found: dict[str, tuple[int, Decimal]] = {}
    for statement in _for_slots(session, slots, query):
        found.update((key, (decl_id, Decimal(counted)))
                     for key, decl_id, counted in session.connection().execute(statement).all()
                     if key in keys)
    return found


def _validated(ctx: Context, session: Session, participant_ids: set[int]) -> set[int]:
    """Persons with a validated, unrevoked eligibility (the rule of the per-line path)."""
    out: set[int] = set()
    for chunk in _batches(session, participant_ids):
        out.update(session.scalars(
            select(Participant.id).where(_among(session, Participant.id, chunk),
                                         validated_eligibility(ctx, Participant.id,
                                                               Participant.first_entry_date))
        ))
    return out


# -- the batch ---------------------------------------------------------------------------------


def record_lines(
    ctx: Context,
    session: Session,
    actor: Actor,
    lines: Sequence[DeclarationLine],
    *,
    source: Channel,
    proof_document_id: int | None = None,
) -> list[LineResult]:
    """Resolve, validate and record every line; one result per line, in order (see module)."""
    if not lines:
        return []
    # The reads below go through the session's connection (Core rows, no autoflush): what the
    # caller added to the session is written first, as the ORM's autoflush would.
    session.flush()
    found = _candidates(session, actor, lines)
    by_full_name = _by_full_name(found)
    resolved: list[_Candidate | DomainError] = []
    for line in lines:
        try:
            resolved.append(_resolve(line, found, by_full_name))
        except DomainError as exc:
            resolved.append(exc)
    ok = [(line, c) for line, c in zip(lines, resolved, strict=True) if isinstance(c, _Candidate)]
    used = _used_keys(session, ok)
    state = _stored_months(session, {(c.contract_id, month_start(line.month)) for line, c in ok})
    validated = _validated(ctx, session, {c.participant_id for _, c in ok})

    writes = _Writes()
    # Once per file rather than once per line: today, and each person's eligibility end (a
    # pure function of their first entry date).
    today = ctx.clock.today()
    eligibility_ends: dict[dt.date, dt.date] = {}
    results = [
        _decide(ctx, actor, line, cand, used, state, validated, writes, source, proof_document_id,
                today, eligibility_ends)
        for line, cand in zip(lines, resolved, strict=True)
    ]
    if not writes.revisions:
        return [r if not isinstance(r, _Pending) else r.result() for r in results]
    try:
        with session.begin_nested():
            _write(ctx, session, actor, writes, state, source)
    except IntegrityError:
        return record_lines_one_by_one(ctx, session, actor, lines, source=source,
                                       proof_document_id=proof_document_id)
    return [r if not isinstance(r, _Pending) else r.result() for r in results]


@dataclass(slots=True)
class _Pending:
    """A recorded line whose declaration id is known only once the new rows are inserted."""

    status: str
    month: _Month
    participant_name: str
    counted: Decimal
    warnings: tuple[str, ...]

    def result(self) -> LineResult:
        return LineResult(status=self.status, declaration_id=self.month.id,
                          participant_name=self.participant_name, counted=self.counted,
                          warnings=self.warnings)


def _decide(
    ctx: Context,
    actor: Actor,
    line: DeclarationLine,
    cand: _Candidate | DomainError,
    used: dict[str, tuple[int, Decimal]],
    state: dict[tuple[int, dt.date], _Month],
    validated: set[int],
    writes: _Writes,
    source: Channel,
    proof_document_id: int | None,
    today: dt.date,
    eligibility_ends: dict[dt.date, dt.date],
) -> LineResult | _Pending:
    """One line, as ``record_declaration`` would treat it given what earlier lines did."""
    if isinstance(cand, DomainError):
        return LineResult(error=cand)
    if line.key in used:
        decl_id, counted = used[line.key]
        return LineResult(status="duplicate", declaration_id=decl_id,
                          participant_name=cand.participant_name, counted=counted)
    month = month_start(line.month)
    slot = (cand.contract_id, month)
    existing = state.get(slot)
    draft, context = declaration_inputs(
        today=today, month=month, work_hours=line.work_hours,
        training_hours=line.training_hours, contract_type=cand.contract_type, dates=cand.dates,
        validated=cand.participant_id in validated, exists=existing is not None,
        correction=line.correction_reason is not None,
        identical=existing is not None and existing.work == Decimal(line.work_hours)
        and existing.training == Decimal(line.training_hours),
    )
    try:
        warnings = tuple(w.message_fr for w in validate_declaration(draft, context, ctx.rulebook))
    except DomainError as exc:
        return LineResult(error=exc)
    eligibility_end = None
    if cand.first_entry is not None:
        eligibility_end = eligibility_ends.get(cand.first_entry)
        if eligibility_end is None:
            eligibility_end = eligibility_ends[cand.first_entry] = clause_eligibility_end(
                cand.first_entry, ctx.rulebook)
    counted = count_month(
        cand.contract_type, cand.start, month, draft.work_hours, draft.training_hours,
        eligibility_end, ctx.rulebook,
    ).total
    if existing is None:
        existing = _Month(None, draft.work_hours, draft.training_hours, counted, 1,
                          proof_document_id, insert_index=len(writes.new_months))
        state[slot] = existing
        writes.new_months.append((slot, existing))
        status = "created"
    elif existing.work == draft.work_hours and existing.training == draft.training_hours:
        return _Pending("unchanged", existing, cand.participant_name, existing.counted, warnings)
    else:
        existing.work, existing.training, existing.counted = draft.work_hours, draft.training_hours, counted
        existing.revision += 1
        existing.changed = existing.insert_index is None
        if proof_document_id is not None:
            existing.proof_document_id = proof_document_id
        status = "corrected"
    writes.revisions.append((existing, (
        existing.revision, draft.work_hours, draft.training_hours, counted, source,
        actor.user_id, actor.email, line.correction_reason, line.key,
    )))
    writes.audits.append((existing, f"declaration.{status}", cand.participant_id, month))
    writes.participants.add(cand.participant_id)
    return _Pending(status, existing, cand.participant_name, counted, warnings)


def _write(
    ctx: Context,
    session: Session,
    actor: Actor,
    writes: _Writes,
    state: dict[tuple[int, dt.date], _Month],
    source: Channel,
) -> None:
    """The file's rows in one executemany per table, whatever the number of lines."""
    now = ctx.clock.now()
    who = (source, actor.user_id, actor.email)
    if writes.new_months:
        # A plain executemany, then the new ids read back by their unique key. Measured: a
        # multi-row INSERT ... RETURNING costs PostgreSQL 0.4 ms a row (13,000 parameters a
        # statement), psycopg's pipelined executemany 0.08 ms; an ordered RETURNING would make
        # SQLAlchemy insert row by row on SQLite. On PostgreSQL the ids are drawn from the
        # table's sequence first (one statement) and written with the rows: no read-back.
        table = table_of(HourDeclaration)
        columns = ("contract_id", "month", "work_hours", "training_hours", "counted_hours",
                   "revision", "proof_document_id", "created_at", "updated_at", "source",
                   "declared_by_user_id", "declared_by_email")
        rows = [(contract_id, month, m.work, m.training, m.counted, m.revision,
                 m.proof_document_id, now, now, *who) for (contract_id, month), m in writes.new_months]
        if _postgres(session):
            drawn = _drawn_ids(session, table, len(rows))
            for (_, m), new_id in zip(writes.new_months, drawn, strict=True):
                m.id = new_id
            _insert_many(session, table, ("id", *columns),
                         [(new_id, *row) for new_id, row in zip(drawn, rows, strict=True)])
        else:
            _insert_many(session, table, columns, rows)
            ids = _new_ids(session, [slot for slot, _ in writes.new_months])
            for slot, m in writes.new_months:
                m.id = ids[slot]
    corrected = [m for m in state.values() if m.changed]
    if corrected:
        table = table_of(HourDeclaration)
        session.execute(
            update(table).where(table.c.id == bindparam("decl_id")).values(
                work_hours=bindparam("work"), training_hours=bindparam("training"),
                counted_hours=bindparam("counted"), revision=bindparam("rev"),
                proof_document_id=bindparam("proof"), updated_at=now, source=source,
                declared_by_user_id=actor.user_id, declared_by_email=actor.email,
                status=status_after_correction(),
            ),
            [{"decl_id": m.id, "work": m.work, "training": m.training, "counted": m.counted,
              "rev": m.revision, "proof": m.proof_document_id} for m in corrected],
        )
    _insert_many(session, table_of(DeclarationRevision), ("declaration_id", "created_at",
                                                          *_REVISION_COLUMNS),
                 [(m.id, now, *row) for m, row in writes.revisions])
    participants = table_of(Participant)
    for chunk in _batches(session, writes.participants):
        session.execute(update(participants).where(_among(session, participants.c.id, chunk))
                        .values(last_activity_at=now))
    label = (actor.label or "?")[:254]
    _insert_many(session, table_of(AuditEntry), (
        "actor_user_id", "actor_label", "channel", "action", "subject_type", "subject_id",
        "detail",
    ), [(actor.user_id, label, actor.channel, action, "declaration", m.id,
         {"participant_id": participant_id, "month": month.isoformat()})
        for m, action, participant_id, month in writes.audits])


def _drawn_ids(session: Session, table: Table, count: int) -> list[int]:
    """PostgreSQL: ``count`` new ids from the table's own sequence, in one statement (what the
    column's default would have drawn, row by row)."""
    sequence = func.pg_get_serial_sequence(table.name, "id")
    return list(session.connection().scalars(
        select(func.nextval(sequence)).select_from(func.generate_series(1, count))))


def _insert_many(session: Session, table: Table, keys: Sequence[str],
                 rows: Sequence[Sequence[Any]]) -> None:
    """One driver ``executemany`` of plain tuples, each value through its column's own bind
    processor (the same conversions SQLAlchemy applies), the columns' Python-side defaults
    filled in once for the statement.

    Why not ``session.execute(insert(table), [dict, ...])``: for each of the 30,000 rows of a
    10,000-line file SQLAlchemy builds and walks a parameter dictionary (29 % of an import);
    the statement and the converters are the same for every row, so they are prepared once.
    """
    if not rows:
        return
    conn = session.connection()
    dialect = conn.dialect
    defaults = [c for c in table.columns
                if c.key not in keys and c.default is not None and not c.primary_key]
    fixed = tuple(c.default.arg(None) if c.default.is_callable else c.default.arg  # type: ignore[union-attr]
                  for c in defaults)
    columns = [table.c[k] for k in keys] + defaults
    processors = [c.type._cached_bind_processor(dialect) for c in columns]
    marker = {"qmark": "?", "format": "%s", "pyformat": "%s"}[dialect.paramstyle]
    quote = dialect.identifier_preparer.quote
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c.name) for c in columns)}) "
           f"VALUES ({', '.join([marker] * len(columns))})")
    # Column by column: a column holds few distinct values (one timestamp, one channel, a
    # few months and hour figures), each converted once.
    values = [list(column) for column in zip(*rows, strict=True)]
    values += [[value] * len(rows) for value in fixed]
    for i, fn in enumerate(processors):
        if fn is None:
            continue
        try:
            converted = {value: fn(value) for value in set(values[i])}
        except TypeError:  # unhashable (a JSON detail)
            values[i] = [fn(value) for value in values[i]]
        else:
            values[i] = [converted[value] for value in values[i]]
    params = list(zip(*values, strict=True))
    if dialect.name == "postgresql":
        _copy(conn.connection.driver_connection, dialect, table.name,
              [quote(c.name) for c in columns], params)
        return
    conn.exec_driver_sql(sql, params)


def _copy(driver: Any, dialect: Any, table: str, columns: list[str],
          params: list[tuple[Any, ...]]) -> None:
    """PostgreSQL: the rows through ``COPY ... FROM STDIN`` on the session's own connection
    (same transaction, same savepoint). Measured: psycopg's ``executemany`` spent half of a
    10,000-line import in dumping, preparing and pipelining one statement a row. A unique
    key hit raises SQLAlchemy's IntegrityError, as the INSERT would, so that
    :func:`record_lines` falls back to the per-line path."""
    statement = f"COPY {dialect.identifier_preparer.quote(table)} ({', '.join(columns)}) FROM STDIN"
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in params:
                copy.write_row(row)
    except dialect.loaded_dbapi.IntegrityError as exc:
        raise IntegrityError(statement, None, exc) from exc


# -- the per-line path, for races ----------------------------------------------------------------


def record_lines_one_by_one(
    ctx: Context,
    session: Session,
    actor: Actor,
    lines: Sequence[DeclarationLine],
    *,
    source: Channel,
    proof_document_id: int | None = None,
) -> list[LineResult]:
    """The same lines through ``find_contract`` and ``record_declaration``, a savepoint each.

    Slow (eleven statements a line) but each line stands alone: used when the batch hit a
    unique key, so that the conflicting line is refused or seen as existing and the others are
    still recorded.
    """
    results: list[LineResult] = []
    for line in lines:
        try:
            with session.begin_nested():
                view = find_contract(
                    session, actor,
                    participant_last_name=line.last_name,
                    participant_first_name=line.first_name,
                    market_reference=line.market_reference,
                    lot_number=line.lot_number,
                    month=line.month,
                )
                outcome = record_declaration(
                    ctx, session, actor,
                    contract_id=view.contract_id, month=line.month,
                    work_hours=line.work_hours, training_hours=line.training_hours,
                    source=source, idempotency_key=line.key,
                    correction_reason=line.correction_reason, proof_document_id=proof_document_id,
                )
        except DomainError as exc:
            results.append(LineResult(error=exc))
            continue
        results.append(LineResult(
            status=outcome.status, declaration_id=outcome.declaration.id,
            participant_name=view.participant_name, counted=outcome.counted,
            warnings=tuple(outcome.warnings),
        ))
    return results
