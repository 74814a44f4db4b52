"""Loading an agency's history: participants, eligibility, contracts, monthly hours, exits.

One validation path, set-based: the file is checked with the live channels' pure rules —
:func:`clauses.hiring.check_end` / :func:`~clauses.hiring.check_span` /
:func:`~clauses.hiring.overlap_error` for contracts (what ``record_hire`` checks),
:func:`clauses.declaration_rules.validate_declaration` and :func:`clauses.counting.count_month`
for the monthly hours (what ``record_lines`` checks and counts), :func:`clauses.exits.check_exit`
for exits — against one read of the rows already stored, per chunk (a few IN-list queries,
whatever the chunk's size). This module only resolves the file's words (market, lot, company,
criterion, situation), groups the rows by person and writes with one executemany per table.

All-or-nothing without holding the SQLite write lock for the whole file: the rows are cut into
chunks of whole persons (a person's rows never span two chunks, and persons do not depend on
each other). Pass 1 plans every chunk in a read-only session and collects every refusal with its
line number; only a file with no refusal goes to pass 2, which re-reads and re-plans each chunk
inside its own write transaction (so a live change since pass 1 is seen, never overwritten) and
commits it. Between two chunks the service's chat gets the lock. Re-running a file is a no-op
(persons matched by name + birth date, contracts by person, engagement and start, hours by the
stored month and an idempotency key of their values, exits compared), so a file extending an
earlier one adds only what is new, and a pass 2 interrupted by a crash is finished by importing
the file again.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from clauses import audit
from clauses.actors import Actor
from clauses.authz import Action, authorize
from clauses.context import Context
from clauses.counting import count_month, month_start
from clauses.declaration_rules import declaration_inputs, validate_declaration
from clauses.declaring.lookup import is_eligibility_valid, is_running_during, is_running_in_month
from clauses.eligibility import clause_eligibility_end
from clauses.errors import DomainError
from clauses.exits import check_exit, numbered_situations, record_exit, situation_label
from clauses.formatting import fold, fr_date
from clauses.hiring import (
    FAR_FUTURE,
    check_end,
    check_span,
    contract_type_key,
    find_lot,
    overlap_error,
)
from clauses.history.reading import HistoryRow
from clauses.importing.values import ValueProblem, parse_date, parse_lot_number
from storage.models import (
    Candidature,
    CandidatureStatus,
    Channel,
    Company,
    Contract,
    DeclarationRevision,
    DeclarationStatus,
    Eligibility,
    Engagement,
    ExitFollowup,
    Gender,
    HourDeclaration,
    Lot,
    Market,
    Participant,
    Role,
    User,
    person_name,
)
from storage.models.base import table_of
from storage.models.exits import EXIT_QUESTION

_fold = functools.lru_cache(maxsize=1 << 16)(fold)
_parse_date = functools.lru_cache(maxsize=1 << 16)(parse_date)
"""Cached: a grid repeats the same market, company, criterion and dates on every line (the
profile of 10,000 lines spent a third of its planning time folding the same words again)."""

CHUNK_ROWS = 1000
"""Rows per transaction: a few hundred ms of writing, so the chat's p99 wait stays around half a
second on SQLite (docs/benchmarks.md); 2,000 and 5,000 were not faster and doubled the worst
wait. A 200,000-line file is 200 commits."""


@dataclass
class HistoryResult:
    errors: list[tuple[int, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("personnes", "critères", "contrats", "mois", "sorties"), 0))
    lines: int = 0
    chunks: int = 0
    written: int = 0
    """Chunks committed: more than none with errors means a live change stopped pass 2 midway
    (re-importing the file finishes it)."""

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class _Person:
    """The rows of one person (same name and birth date), in file order."""

    last_name: str
    first_name: str
    birth_date: dt.date
    rows: list[HistoryRow] = field(default_factory=list)


class _LineRefused(DomainError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def _date(row: HistoryRow, column: str, what: str, required: bool = False) -> dt.date | None:
    text = row.get(column)
    if not text:
        if required:
            row.problems.append(f"{what} manquante.")
        return None
    try:
        return _parse_date(text)
    except ValueProblem as exc:
        row.problems.append(f"{what} : {exc}")
        return None


def group_persons(rows: list[HistoryRow]) -> tuple[list[_Person], list[tuple[int, str]]]:
    """Rows grouped by person; a name with two birth dates on one contract is refused, since
    guessing which one is right would attach hours to the wrong person."""
    errors: list[tuple[int, str]] = []
    persons: dict[tuple[str, str, dt.date], _Person] = {}
    births: dict[tuple[str, str, str, str, str], tuple[dt.date, int]] = {}
    for row in rows:
        birth = _date(row, "date_de_naissance", "Date de naissance", required=True)
        if not row.get("nom") or not row.get("prenom"):
            row.problems.append("Nom et prénom obligatoires.")
        if row.problems:
            errors.extend((row.line, p) for p in row.problems)
            continue
        assert birth is not None
        name = (_fold(row.get("nom")), _fold(row.get("prenom")))
        contract = (_fold(row.get("marche")), row.get("lot"), row.get("debut"))
        seen = births.setdefault((*name, *contract), (birth, row.line))
        if seen[0] != birth:
            errors.append((row.line, (
                f"{row.get('nom')} {row.get('prenom')} a deux dates de naissance pour le même "
                f"contrat ({fr_date(seen[0])} ligne {seen[1]}, {fr_date(birth)} ici) : corrigez "
                "la bonne ; rien n'est deviné.")))
            continue
        person = persons.setdefault((*name, birth), _Person(row.get("nom"), row.get("prenom"), birth))
        person.rows.append(row)
    return list(persons.values()), errors


def chunks(persons: list[_Person], size: int = CHUNK_ROWS) -> Iterator[list[_Person]]:
    """Whole persons, about ``size`` rows a chunk."""
    batch: list[_Person] = []
    count = 0
    for person in persons:
        batch.append(person)
        count += len(person.rows)
        if count >= size:
            yield batch
            batch, count = [], 0
    if batch:
        yield batch



LIVE_CONFLICT = ("Une saisie faite en direct pendant l'import touche les mêmes lignes : rien de "
                 "ce bloc n'a été écrit. Relancez l'import : ce qui est déjà importé ne sera pas "
                 "doublé.")

IN_CHUNK = 1000
"""IN-list size of the reads: well below SQLite's and PostgreSQL's bound-parameter limits."""


def _in_chunks(values: Iterable[Any]) -> Iterator[list[Any]]:
    ordered = sorted(set(values))
    for i in range(0, len(ordered), IN_CHUNK):
        yield ordered[i:i + IN_CHUNK]


# -- the file's words -> ids (a handful of distinct values per file: read once) --------------


@dataclass(frozen=True, slots=True)
class _Lot:
    id: int
    number: int
    reference: str
    first: dt.date
    last: dt.date
    dates: tuple[Any, ...]
    """Lot and market (start, end), the tail of :data:`clauses.declarations.CONTRACT_DATES`."""


class _Words:
    """Markets, lots, engagements, criteria and facilitators named in the file, resolved once
    (ids and dates only: nothing here is tied to a session)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.lots: dict[tuple[str, str], _Lot | str] = {}
        self.engagements: dict[int, list[tuple[int, int, str, str | None]]] = {}
        self.validators: list[tuple[int, str, str]] | None = None

    def lot(self, session: Session, row: HistoryRow) -> _Lot:
        key = (_fold(row.get("marche")), row.get("lot"))
        if key not in self.lots:
            try:
                lot = find_lot(session, row.get("marche"), parse_lot_number(row.get("lot")))
                market = session.get(Market, lot.market_id)
                assert market is not None
                self.lots[key] = _Lot(
                    lot.id, lot.number, market.reference, lot.start_date or market.start_date,
                    lot.end_date or market.end_date,
                    (lot.start_date, lot.end_date, market.start_date, market.end_date))
            except ValueProblem as exc:
                self.lots[key] = f"Lot : {exc}"
            except DomainError as exc:
                self.lots[key] = exc.message_fr
        found = self.lots[key]
        if isinstance(found, str):
            raise _LineRefused(row.line, found)
        return found

    def engagement(self, session: Session, row: HistoryRow, lot: _Lot) -> tuple[int, int]:
        """(engagement id, company id) of the row's company on the lot."""
        if lot.id not in self.engagements:
            self.engagements[lot.id] = [tuple(r) for r in session.execute(  # type: ignore[misc]
                select(Engagement.id, Engagement.company_id, Company.name, Company.siret)
                .join(Company, Company.id == Engagement.company_id)
                .where(Engagement.lot_id == lot.id).order_by(Engagement.id))]
        rows = self.engagements[lot.id]
        wanted = _fold(row.get("entreprise"))
        digits = "".join(ch for ch in row.get("entreprise") if ch.isdigit())
        found = [(e, c) for e, c, name, siret in rows
                 if _fold(name) == wanted or (len(digits) == 14 and siret == digits)]
        if len(found) != 1:
            holders = ", ".join(r[2] for r in rows) or "aucune"
            raise _LineRefused(row.line, (
                f"Entreprise « {row.get('entreprise')} » sans engagement sur le marché "
                f"{row.get('marche')} lot {row.get('lot')} (entreprises du lot : {holders}). "
                "Indiquez le nom exact ou le SIRET."))
        return found[0]

    def validator(self, session: Session, row: HistoryRow) -> int | None:
        text = row.get("valide_par")
        if not text:
            return None
        if self.validators is None:
            self.validators = [(uid, name or "", email or "") for uid, name, email in session.execute(
                select(User.id, User.display_name, User.email).where(User.role == Role.FACILITATEUR))]
        found = [uid for uid, name, email in self.validators
                 if _fold(name) == _fold(text) or email.lower() == text.lower()]
        if len(found) != 1:
            raise _LineRefused(row.line, (
                f"« Validé par » : facilitateur·rice « {text} » inconnu·e ; créez-le avec "
                "« clausebot facilitateur create » ou indiquez son e-mail."))
        return found[0]

    def criterion(self, row: HistoryRow) -> str | None:
        text = row.get("critere")
        if not text:
            return None
        catalogue = self.ctx.rulebook.eligibility.criteria
        key = next((k for k, c in catalogue.items() if _fold(text) in (_fold(k), _fold(c.short))), None)
        if key is None:
            raise _LineRefused(row.line, f"Critère inconnu « {text} » : critères possibles : "
                                         f"{', '.join(catalogue)}.")
        return key


# -- what is stored about the chunk's persons: one read per kind -----------------------------


@dataclass(slots=True)
class _Span:
    """A contract, stored (``id``) or planned by the file (no id until written); what the
    hiring, hours and exit rules read of it."""

    id: int | None
    participant_id: int | None
    engagement_id: int
    company_id: int
    lot_id: int
    contract_type: str
    start_date: dt.date
    end_date: dt.date | None
    dates: tuple[Any, ...]
    candidature_id: int | None = None
    line: int = 0


@dataclass(slots=True)
class _StoredPerson:
    id: int
    last_name: str
    first_name: str
    birth_date: dt.date | None
    first_entry: dt.date | None
    exit_situation: str | None
    exit_date: dt.date | None
    eligibilities: list[tuple[str, dt.date | None, dt.datetime | None, dt.datetime | None]] = field(
        default_factory=list)
    contracts: list[_Span] = field(default_factory=list)


@dataclass
class _Stored:
    persons: dict[tuple[str, dt.date], list[_StoredPerson]] = field(default_factory=dict)
    candidatures: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    months: dict[tuple[int, dt.date], tuple[Decimal, Decimal]] = field(default_factory=dict)
    used_keys: set[str] = field(default_factory=set)


def _read_stored(session: Session, persons: Sequence[_Person]) -> _Stored:
    """Everything already stored about these persons: the matching participants, their
    eligibilities, contracts (with their lot's dates), history candidatures, declared months and
    the history keys already used — about seven queries per IN-list chunk."""
    out = _Stored()
    wanted = {(p.last_name.lower(), p.birth_date) for p in persons}
    by_id: dict[int, _StoredPerson] = {}
    for names in _in_chunks(n for n, _ in wanted):
        for r in session.execute(
                select(Participant.id, Participant.last_name, Participant.first_name,
                       Participant.birth_date, Participant.first_entry_date,
                       Participant.exit_situation, Participant.exit_date,
                       func.lower(Participant.last_name))
                .where(func.lower(Participant.last_name).in_(names),
                       Participant.anonymised_at.is_(None)).order_by(Participant.id)):
            if (r[7], r[3]) not in wanted:
                continue
            stored = _StoredPerson(*r[:7])
            by_id[stored.id] = stored
            out.persons.setdefault((r[7], r[3]), []).append(stored)
    if not by_id:
        return out
    contracts: dict[int, _Span] = {}
    for ids in _in_chunks(by_id):
        for pid, criterion, proof, validated, revoked in session.execute(
                select(Eligibility.participant_id, Eligibility.criterion, Eligibility.proof_date,
                       Eligibility.validated_at, Eligibility.revoked_at)
                .where(Eligibility.participant_id.in_(ids))):
            by_id[pid].eligibilities.append((criterion, proof, validated, revoked))
        for r in session.execute(
                select(Contract.id, Contract.participant_id, Contract.engagement_id,
                       Engagement.company_id, Engagement.lot_id, Contract.contract_type,
                       Contract.start_date, Contract.end_date, Lot.start_date, Lot.end_date,
                       Market.start_date, Market.end_date, Contract.candidature_id)
                .join(Engagement, Engagement.id == Contract.engagement_id)
                .join(Lot, Lot.id == Engagement.lot_id).join(Market, Market.id == Lot.market_id)
                .where(Contract.participant_id.in_(ids)).order_by(Contract.start_date, Contract.id)):
            span = _Span(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7],
                         (r[6], r[7], *r[8:12]), r[12])
            contracts[span.id] = span  # type: ignore[index]
            by_id[span.participant_id].contracts.append(span)  # type: ignore[index]
        for key, cand_id in session.execute(
                select(Candidature.idempotency_key, Candidature.id)
                .where(Candidature.participant_id.in_(ids),
                       Candidature.idempotency_key.like("history:%"))):
            if key is not None:
                out.candidatures[key] = (cand_id, None)
    by_cand = {s.candidature_id: s.id for s in contracts.values() if s.candidature_id}
    out.candidatures = {k: (c, by_cand.get(c)) for k, (c, _) in out.candidatures.items()}
    decl_ids: list[int] = []
    for ids in _in_chunks(contracts):
        for decl_id, contract_id, month, work, training in session.execute(
                select(HourDeclaration.id, HourDeclaration.contract_id, HourDeclaration.month,
                       HourDeclaration.work_hours, HourDeclaration.training_hours)
                .where(HourDeclaration.contract_id.in_(ids))):
            out.months[(contract_id, month)] = (Decimal(work), Decimal(training))
            decl_ids.append(decl_id)
    for ids in _in_chunks(decl_ids):
        out.used_keys.update(session.scalars(
            select(DeclarationRevision.idempotency_key)
            .where(DeclarationRevision.declaration_id.in_(ids),
                   DeclarationRevision.idempotency_key.like("history:%"))))
    return out


# -- planning one person: the live rules, in memory ------------------------------------------


@dataclass(slots=True)
class _Month:
    line: int
    span: _Span
    month: dt.date
    work: Decimal
    training: Decimal
    counted: Decimal
    row: HistoryRow


@dataclass
class _Plan:
    """What one person's rows add; nothing when everything is already stored."""

    person: _Person
    stored: _StoredPerson | None
    new_person: dict[str, Any] | None = None
    eligibilities: list[dict[str, Any]] = field(default_factory=list)
    contracts: list[_Span] = field(default_factory=list)
    months: list[_Month] = field(default_factory=list)
    exit: tuple[str, dt.date, _Span] | None = None
    first_entry: dt.date | None = None
    participant_id: int | None = None


class _Planner:
    """Applies the rules to each person of a chunk given what is stored (see module)."""

    def __init__(self, ctx: Context, words: _Words, result: HistoryResult) -> None:
        self.ctx, self.words, self.result = ctx, words, result

    def plan(self, session: Session, person: _Person, stored: _Stored) -> _Plan | None:
        """The person's plan, or None after recording their refusal(s) in the result."""
        try:
            plan = _Plan(person, self._match(person, stored))
            if plan.stored is None:
                plan.new_person = self._new_person(person)
            self._eligibility(session, plan)
            spans = self._contracts(session, plan, stored)
            self._exit(plan, spans)
        except _LineRefused as exc:
            self.result.errors.append((exc.line, exc.message_fr))
            return None
        if not self._hours(plan, spans, stored):
            return None
        return plan

    def _match(self, person: _Person, stored: _Stored) -> _StoredPerson | None:
        candidates = stored.persons.get((person.last_name.lower(), person.birth_date), [])
        same = [p for p in candidates if _fold(p.first_name) == _fold(person.first_name)]
        if len(same) > 1:
            raise _LineRefused(person.rows[0].line, (
                f"Deux fiches existent déjà pour {person.last_name} {person.first_name} né·e le "
                f"{fr_date(person.birth_date)} : fusionnez-les d'abord (clausebot rgpd fusion)."))
        return same[0] if same else None

    def _new_person(self, person: _Person) -> dict[str, Any]:
        first = person.rows[0]
        gender = first.get("genre").upper()[:1] or None
        if gender is not None and gender not in {g.value for g in Gender}:
            raise _LineRefused(first.line, f"Genre « {first.get('genre')} » : écrivez F, M ou X.")
        qpv_text = _fold(first.get("qpv"))
        if qpv_text not in ("", "oui", "non", "o", "n", "1", "0", "x"):
            raise _LineRefused(first.line, f"QPV « {first.get('qpv')} » : écrivez oui ou non.")
        return {"last_name": " ".join(person.last_name.split()),
                "first_name": " ".join(person.first_name.split()), "birth_date": person.birth_date,
                "gender": Gender(gender) if gender else None, "commune": first.get("commune") or None,
                "qpv": qpv_text in ("oui", "o", "1", "x")}

    def _eligibility(self, session: Session, plan: _Plan) -> None:
        done = {(c, p) for c, p, _, _ in plan.stored.eligibilities} if plan.stored else set()
        for row in plan.person.rows:
            key = self.words.criterion(row)
            if key is None:
                continue
            proof = _date(row, "date_du_justificatif", "Date du justificatif")
            if row.problems:
                raise _LineRefused(row.line, row.problems[-1])
            if (key, proof) in done:
                continue
            done.add((key, proof))
            validated_at = (dt.datetime.combine(proof, dt.time(12), dt.UTC) if proof
                            else self.ctx.clock.now())
            plan.eligibilities.append({"criterion": key, "proof_date": proof,
                                       "validated_by_id": self.words.validator(session, row),
                                       "validated_at": validated_at})

    def _contracts(self, session: Session, plan: _Plan, stored: _Stored) -> dict[int, _Span]:
        """Row line -> its contract (stored, or planned after the hiring rules)."""
        out: dict[int, _Span] = {}
        by_key: dict[tuple[str, str, str, str], _Span] = {}
        existing = list(plan.stored.contracts) if plan.stored else []
        for row in plan.person.rows:
            key = (_fold(row.get("marche")), row.get("lot"), _fold(row.get("entreprise")), row.get("debut"))
            if key not in by_key:
                try:
                    by_key[key] = self._contract(session, plan, row, existing, stored)
                except _LineRefused:
                    raise
                except DomainError as exc:
                    raise _LineRefused(row.line, exc.message_fr) from None
            out[row.line] = by_key[key]
        return out

    def _contract(self, session: Session, plan: _Plan, row: HistoryRow, existing: list[_Span],
                  stored: _Stored) -> _Span:
        lot = self.words.lot(session, row)
        engagement_id, company_id = self.words.engagement(session, row, lot)
        start = _date(row, "debut", "Début", required=True)
        end = _date(row, "fin", "Fin")
        if row.problems:
            raise _LineRefused(row.line, row.problems[-1])
        assert start is not None
        contract_type = contract_type_key(self.ctx, row.get("type_de_contrat"))
        same = next((s for s in existing if s.id is not None and s.engagement_id == engagement_id
                     and s.start_date == start), None)
        if same is not None:
            if same.end_date != end or same.contract_type != contract_type:
                raise _LineRefused(row.line, (
                    f"Le contrat n° {same.id} du {fr_date(start)} existe déjà avec un "
                    "autre type ou une autre fin : modifiez-le avec « clausebot contrat "
                    "extend / retype / correct », pas par l'import."))
            return same
        # record_hire's rules, in its order
        check_end(self.ctx.rulebook.contract_types[contract_type], end)
        check_span(start, end, lot.first, lot.last, lot.reference, lot.number)
        for other in existing:
            if other.lot_id == lot.id and is_running_during(other.start_date, other.end_date,
                                                            start, end or FAR_FUTURE):
                raise overlap_error(other.id, other.start_date, other.end_date)
        span = _Span(None, plan.stored.id if plan.stored else None, engagement_id, company_id,
                     lot.id, contract_type, start, end, (start, end, *lot.dates), line=row.line)
        if plan.stored is not None:  # a history candidature left without its contract
            found = stored.candidatures.get(_candidature_key(plan.stored.id, span))
            if found is not None and found[1] is not None:
                raise _LineRefused(row.line, (
                    f"Le contrat du {fr_date(start)} sur ce lot a déjà été importé (contrat n° "
                    f"{found[1]}) pour une autre entreprise : corrigez l'entreprise."))
            span.candidature_id = found[0] if found else None
        existing.append(span)
        plan.contracts.append(span)
        return span

    def _exit(self, plan: _Plan, spans: dict[int, _Span]) -> None:
        rows = [r for r in plan.person.rows if r.get("sortie") or r.get("date_de_sortie")]
        if not rows:
            return
        values = {(_fold(r.get("sortie")), r.get("date_de_sortie")) for r in rows}
        row = rows[-1]
        if len(values) > 1:
            raise _LineRefused(row.line, "Deux sorties différentes pour la même personne : "
                                         "gardez la dernière seulement.")
        when = _date(row, "date_de_sortie", "Date de sortie", required=True)
        if row.problems:
            raise _LineRefused(row.line, row.problems[-1])
        assert when is not None
        text = row.get("sortie")
        situation = next((k for k, label in numbered_situations(self.ctx)
                          if _fold(text) in (_fold(k), _fold(label.split(" — ")[-1]))), text)
        if plan.stored and (plan.stored.exit_situation, plan.stored.exit_date) == (situation, when):
            return
        contracts = {id(s): s for s in (plan.stored.contracts if plan.stored else [])}
        contracts.update((id(s), s) for s in plan.contracts)
        name = person_name(plan.new_person["last_name"], plan.new_person["first_name"]) \
            if plan.new_person else person_name(plan.stored.last_name, plan.stored.first_name)  # type: ignore[union-attr]
        try:
            situation_label(self.ctx, situation)
            check_exit(self.ctx, name, list(contracts.values()), when)
        except DomainError as exc:
            raise _LineRefused(row.line, exc.message_fr) from None
        ended = max((c for c in contracts.values() if c.start_date <= when),
                    key=lambda c: (c.end_date or dt.date.min, c.id or 0))
        plan.exit = (situation, when, ended)

    def _hours(self, plan: _Plan, spans: dict[int, _Span], stored: _Stored) -> bool:
        """The person's months through the declaration rules; False after a refusal."""
        starts = [s.start_date for s in plan.contracts]
        if plan.stored and plan.stored.first_entry:
            starts.append(plan.stored.first_entry)
        plan.first_entry = min(starts) if starts else None
        months_rule = self.ctx.rulebook.eligibility.diagnosis_validity_months
        today = self.ctx.clock.today()
        validated = any(is_eligibility_valid(v, r, plan.first_entry, today, months_rule)
                        for _, _, v, r in (plan.stored.eligibilities if plan.stored else [])) or any(
            is_eligibility_valid(e["validated_at"], None, plan.first_entry, today, months_rule)
            for e in plan.eligibilities)
        eligibility_end = (clause_eligibility_end(plan.first_entry, self.ctx.rulebook)
                           if plan.first_entry else None)
        planned: dict[tuple[int, dt.date], tuple[Decimal, Decimal]] = {}
        ok = True
        for row in plan.person.rows:
            if row.month is None or (row.work_hours is None and not row.training_hours):
                continue
            span = spans[row.line]
            if not is_running_in_month(span.start_date, span.end_date, row.month):
                when = fr_date(span.start_date) + (f" au {fr_date(span.end_date)}"
                                                   if span.end_date else " (sans fin)")
                self.result.errors.append((row.line, (
                    f"Heures de {row.month:%m/%Y} hors du contrat (du {when}) : vérifiez le mois "
                    "ou les dates du contrat.")))
                return False
            work = row.work_hours or Decimal(0)
            training = row.training_hours
            month = month_start(row.month)
            if span.id is not None and _hours_key(span.id, row) in stored.used_keys:
                continue  # imported before (and maybe corrected live since): nothing to do
            slot = (id(span), month)
            before = (stored.months.get((span.id, month)) if span.id is not None else None) \
                or planned.get(slot)
            if before is not None and before == (Decimal(work), Decimal(training)):
                continue  # stored, or the same month repeated identically (e.g. on an exit line)
            draft, context = declaration_inputs(
                today=today, month=month, work_hours=work, training_hours=training,
                contract_type=span.contract_type, dates=span.dates, validated=validated,
                exists=before is not None)
            try:
                validate_declaration(draft, context, self.ctx.rulebook)
            except DomainError as exc:
                self.result.errors.append((row.line, exc.message_fr))
                ok = False
                continue
            planned[slot] = (draft.work_hours, draft.training_hours)
            counted = count_month(span.contract_type, span.start_date, month, draft.work_hours,
                                  draft.training_hours, eligibility_end, self.ctx.rulebook).total
            plan.months.append(_Month(row.line, span, month, draft.work_hours,
                                      draft.training_hours, counted, row))
        return ok


def _candidature_key(participant_id: int, span: _Span) -> str:
    """The idempotency key :func:`clauses.hiring.record_history_hire` gives a history hire."""
    return f"history:{participant_id}:{span.lot_id}:{span.start_date.isoformat()}"


def _hours_key(contract_id: int, row: HistoryRow) -> str:
    """The idempotency key of a month of the file: its contract and values, so that importing
    the same file again finds it even after a live correction of that month."""
    digest = hashlib.sha256(
        f"{contract_id}:{row.month}:{row.work_hours or 0}:{row.training_hours}".encode())
    return "history:" + digest.hexdigest()[:32]


# -- writing a chunk: one executemany per table ------------------------------------------------


def _write(ctx: Context, session: Session, actor: Actor, plans: list[_Plan]) -> None:
    """The chunk's plans, in dependency order: persons, eligibility, candidatures, contracts,
    months (+ revisions), exits, and their audit entries (same shapes as the live use cases)."""
    now = ctx.clock.now()
    audits: list[tuple[str, str, int, dict[str, Any]]] = []
    new = [p for p in plans if p.new_person is not None]
    if new:
        table = table_of(Participant)
        rows = [{**p.new_person, "first_entry_date": p.first_entry, "last_activity_at": now,  # type: ignore[dict-item]
                 "exit_situation": p.exit[0] if p.exit else None,
                 "exit_date": p.exit[1] if p.exit else None} for p in new]
        returned = session.execute(
            insert(table).returning(table.c.id, table.c.last_name, table.c.first_name,
                                    table.c.birth_date), rows).all()
        ids = {(last, first, birth): pid for pid, last, first, birth in returned}
        for p in new:
            assert p.new_person is not None
            p.participant_id = ids[(p.new_person["last_name"], p.new_person["first_name"],
                                    p.new_person["birth_date"])]
            audits.append(("participant.history_import", "participant", p.participant_id, {}))
    for p in plans:
        if p.stored is not None:
            p.participant_id = p.stored.id
        for span in p.contracts:
            span.participant_id = p.participant_id
    eligibilities = [{"participant_id": p.participant_id, **e} for p in plans for e in p.eligibilities]
    if eligibilities:
        session.execute(insert(table_of(Eligibility)), eligibilities)
        audits.extend(("eligibility.history_import", "participant", e["participant_id"],
                       {"criterion": e["criterion"]}) for e in eligibilities)
    spans = [s for p in plans for s in p.contracts]
    _write_contracts(ctx, session, actor, spans, now, audits)
    touched = [p for p in plans if p.stored is not None and (p.contracts or p.months)]
    if touched:
        table = table_of(Participant)
        session.execute(update(table).where(table.c.id == bindparam("pid")).values(
            first_entry_date=bindparam("entry"), last_activity_at=now),
            [{"pid": p.participant_id, "entry": p.first_entry} for p in touched])
    _write_months(session, actor, [m for p in plans for m in p.months], now, audits)
    followups = [p for p in new if p.exit is not None]
    if followups:
        session.execute(insert(table_of(ExitFollowup)), [
            {"participant_id": p.participant_id, "contract_id": p.exit[2].id, "kind": EXIT_QUESTION,  # type: ignore[index]
             "asked_at": now, "answered_at": now, "situation": p.exit[0],  # type: ignore[index]
             "answered_by_user_id": actor.user_id,
             "answered_by_email": None if actor.user_id else actor.email} for p in followups])
        audits.extend(("participant.exit", "participant", p.participant_id, {  # type: ignore[misc]
            "situation": p.exit[0], "exit_date": p.exit[1].isoformat(),  # type: ignore[index]
            "contract_id": p.exit[2].id}) for p in followups)  # type: ignore[index]
    audit.record_many(session, actor, audits)
    for p in plans:  # a stored person's exit: the live use case (prescriber feedback, follow-up)
        if p.stored is not None and p.exit is not None:
            record_exit(ctx, session, actor, p.stored.id, situation=p.exit[0], exit_date=p.exit[1])


def _write_contracts(ctx: Context, session: Session, actor: Actor, spans: list[_Span],
                     now: dt.datetime, audits: list[tuple[str, str, int, dict[str, Any]]]) -> None:
    """New contracts as :func:`clauses.hiring.record_history_hire` records them: a candidature
    the agency validated at the time (keyed, « embauchée »), then the contract linked to it."""
    if not spans:
        return
    cands = table_of(Candidature)
    fresh = [s for s in spans if s.candidature_id is None]
    if fresh:
        keys = {_candidature_key(s.participant_id, s): s for s in fresh}  # type: ignore[arg-type]
        session.execute(insert(cands), [
            {"participant_id": s.participant_id, "company_id": s.company_id, "lot_id": s.lot_id,
             "source": Channel.CLI, "status": CandidatureStatus.EMBAUCHEE,
             "decided_by_id": actor.user_id, "decided_at": now, "criteria_claimed": [],
             "idempotency_key": key} for key, s in keys.items()])
        for chunk in _in_chunks(keys):
            for key, cand_id in session.execute(select(cands.c.idempotency_key, cands.c.id)
                                                .where(cands.c.idempotency_key.in_(chunk))):
                keys[key].candidature_id = cand_id
    reused = [s.candidature_id for s in spans if s not in fresh]
    if reused:
        session.execute(update(cands).where(cands.c.id.in_(reused))
                        .values(status=CandidatureStatus.EMBAUCHEE))
    contracts = table_of(Contract)
    session.execute(insert(contracts), [
        {"participant_id": s.participant_id, "engagement_id": s.engagement_id,
         "employer_id": s.company_id, "contract_type": s.contract_type, "start_date": s.start_date,
         "end_date": s.end_date, "candidature_id": s.candidature_id, "created_at": now}
        for s in spans])
    by_cand = {s.candidature_id: s for s in spans}
    for chunk in _in_chunks(by_cand):
        for contract_id, cand_id in session.execute(
                select(contracts.c.id, contracts.c.candidature_id)
                .where(contracts.c.candidature_id.in_(chunk))):
            by_cand[cand_id].id = contract_id
    audits.extend(("contract.hire", "participant", s.participant_id, {  # type: ignore[misc]
        "contract_id": s.id, "candidature_id": s.candidature_id, "channel": Channel.CLI.value})
        for s in spans)


def _write_months(session: Session, actor: Actor, months: list[_Month], now: dt.datetime,
                  audits: list[tuple[str, str, int, dict[str, Any]]]) -> None:
    """New monthly declarations with their first revision, as ``record_lines`` writes them.

    They arrive already controlled (``validee``): the history is the agency's own tracking
    grid, kept by the facilitators who checked those hours at the time, not a company's
    declaration awaiting their control; loading years of it must not fill ``/controle``.
    A later correction by the company reopens control as for any validated month."""
    if not months:
        return
    who = {"source": Channel.CLI, "declared_by_user_id": actor.user_id,
           "declared_by_email": actor.email}
    decls = table_of(HourDeclaration)
    session.execute(insert(decls), [
        {"contract_id": m.span.id, "month": m.month, "work_hours": m.work,
         "training_hours": m.training, "counted_hours": m.counted, "revision": 1,
         "status": DeclarationStatus.VALIDEE, "controlled_at": now,
         "created_at": now, "updated_at": now, **who} for m in months])
    ids: dict[tuple[int, dt.date], int] = {}
    for chunk in _in_chunks(m.span.id for m in months):
        ids.update(((c, month), d) for d, c, month in session.execute(
            select(decls.c.id, decls.c.contract_id, decls.c.month).where(decls.c.contract_id.in_(chunk))))
    session.execute(insert(table_of(DeclarationRevision)), [
        {"declaration_id": ids[(m.span.id, m.month)], "revision": 1, "work_hours": m.work,  # type: ignore[index]
         "training_hours": m.training, "counted_hours": m.counted, "reason": None,
         "idempotency_key": _hours_key(m.span.id, m.row), "created_at": now, **who}  # type: ignore[arg-type]
        for m in months])
    audits.extend(("declaration.created", "declaration", ids[(m.span.id, m.month)],  # type: ignore[index]
                   {"participant_id": m.span.participant_id, "month": m.month.isoformat()})
                  for m in months)


# -- the import ------------------------------------------------------------------------------


def _plan_chunk(session: Session, planner: _Planner, batch: list[_Person],
                checked: tuple[_Stored, list[_Plan]] | None = None
                ) -> tuple[_Stored, list[_Plan]]:
    """What is stored about the chunk's persons, and their plans. ``checked``: pass 1's read
    and plans of this chunk, reused when the rows read again are the same (nothing changed
    live in between), so the write pass does not apply the rules a second time."""
    stored = _read_stored(session, batch)
    if checked is not None and checked[0] == stored:
        return checked
    plans = [planner.plan(session, person, stored) for person in batch]
    return stored, [p for p in plans if p is not None]


def _count(result: HistoryResult, plans: list[_Plan]) -> None:
    for p in plans:
        result.counts["personnes"] += p.new_person is not None
        result.counts["critères"] += len(p.eligibilities)
        result.counts["contrats"] += len(p.contracts)
        result.counts["mois"] += len(p.months)
        result.counts["sorties"] += p.exit is not None


def import_history(ctx: Context, actor: Actor, rows: list[HistoryRow],
                   unit: Callable[[], AbstractContextManager[Session]], *,
                   read: Callable[[], AbstractContextManager[Session]] | None = None,
                   dry_run: bool, chunk_rows: int = CHUNK_ROWS, pause: float = 0.0) -> HistoryResult:
    """Check every row (pass 1: read-only, chunk by chunk), then write (pass 2, a commit per
    chunk) when nothing was refused and this is not a dry run. ``unit`` opens one write
    transaction (``Database.session``), ``read`` a read-only one (``Database.read_session``;
    ``unit`` when not given). See the module for why two passes."""
    result = HistoryResult(lines=len({r.line for r in rows}))
    persons, errors = group_persons(rows)
    result.errors.extend(errors)
    words = _Words(ctx)
    planner = _Planner(ctx, words, result)
    with (read or unit)() as session:
        authorize(session, actor, Action.CANDIDATURE_DECIDE)  # the import validates the hires
    checked: list[tuple[_Stored, list[_Plan]]] = []
    batches = list(chunks(persons, chunk_rows))
    for batch in batches:
        with (read or unit)() as session:
            checked.append(_plan_chunk(session, planner, batch))
        _count(result, checked[-1][1])
        result.chunks += 1
    if dry_run or result.errors:
        result.errors.sort()
        return result
    result.counts = dict.fromkeys(result.counts, 0)
    for batch, before in zip(batches, checked, strict=True):
        try:
            with unit() as session:
                _, plans = _plan_chunk(session, planner, batch, before)
                if result.errors:  # a live change since pass 1: finish by importing again
                    session.rollback()
                    break
                _write(ctx, session, actor, plans)
        except IntegrityError:  # a live write of the same row between our read and our write
            result.errors.append((batch[0].rows[0].line, LIVE_CONFLICT))
            break
        _count(result, plans)
        result.chunks += 1
        result.written += 1
        if pause:
            time.sleep(pause)  # let a waiting chat writer take SQLite's lock (see module)
    result.errors.sort()
    return result
