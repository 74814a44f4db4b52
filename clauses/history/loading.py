"""Loading an agency's history: participants, eligibility, contracts, monthly hours, exits.

One validation path: every row goes through the live use cases — contracts through
:func:`clauses.hiring.record_history_hire` (hence ``record_hire``'s checks), hours through
:func:`clauses.declaration_batch.record_lines`, exits through :func:`clauses.exits.record_exit`.
This module only resolves the file's words (market, lot, company, criterion, situation) and
groups the rows by person.

All-or-nothing without holding the SQLite write lock for the whole file: the rows are cut into
chunks of whole persons (a person's rows never span two chunks, and persons do not depend on
each other). Pass 1 runs every chunk in its own short transaction and rolls it back, collecting
every refusal with its line number; only a file with no refusal goes to pass 2, which runs the
same chunks again and commits each one. Between two chunks the service's chat gets the lock.
Re-running a file is a no-op (persons matched by name + birth date, contracts by person, lot
and start, hours by an idempotency key of their values, exits compared), so a file extending
an earlier one adds only what is new, and a pass 2 interrupted by a crash is finished by
importing the file again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clauses import audit
from clauses.actors import Actor
from clauses.context import Context
from clauses.declaration_batch import DeclarationLine, record_lines
from clauses.declaring.lookup import is_running_in_month
from clauses.errors import DomainError
from clauses.exits import numbered_situations, record_exit
from clauses.formatting import fold, fr_date
from clauses.hiring import HireRequest, contract_type_key, find_lot, record_history_hire
from clauses.history.reading import HistoryRow
from clauses.importing.values import ValueProblem, parse_date, parse_lot_number
from storage.models import (
    Channel,
    Company,
    Contract,
    Eligibility,
    Engagement,
    Gender,
    Lot,
    Participant,
    Role,
    User,
)

CHUNK_ROWS = 200
"""Rows per transaction: short enough for the chat to wait well under a second (measured in
docs/benchmarks.md), long enough that a 200,000-line file is a few hundred commits."""


@dataclass
class HistoryResult:
    errors: list[tuple[int, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("personnes", "critères", "contrats", "mois", "sorties"), 0))
    lines: int = 0
    chunks: int = 0

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
        return parse_date(text)
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
        name = (fold(row.get("nom")), fold(row.get("prenom")))
        contract = (fold(row.get("marche")), row.get("lot"), row.get("debut"))
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


class _Loader:
    """Resolves the file's words once (per import), then loads persons in a session."""

    def __init__(self, ctx: Context, actor: Actor, result: HistoryResult) -> None:
        self.ctx, self.actor, self.result = ctx, actor, result
        # ids only (never ORM objects): a refused person's savepoint may roll rows back
        self.lots: dict[tuple[str, str], int] = {}
        self.engagements: dict[tuple[int, str], tuple[int, int]] = {}
        self.validators: dict[str, int] = {}

    # -- words -> ids --------------------------------------------------------------------------

    def lot(self, session: Session, row: HistoryRow) -> Lot:
        key = (fold(row.get("marche")), row.get("lot"))
        if key not in self.lots:
            try:
                number = parse_lot_number(row.get("lot"))
            except ValueProblem as exc:
                raise _LineRefused(row.line, f"Lot : {exc}") from None
            self.lots[key] = find_lot(session, row.get("marche"), number).id
        lot = session.get(Lot, self.lots[key])
        assert lot is not None
        return lot

    def engagement(self, session: Session, row: HistoryRow, lot: Lot) -> tuple[int, int]:
        """(engagement id, company id) of the row's company on the lot."""
        key = (lot.id, fold(row.get("entreprise")))
        if key in self.engagements:
            return self.engagements[key]
        wanted = fold(row.get("entreprise"))
        digits = "".join(ch for ch in row.get("entreprise") if ch.isdigit())
        rows = session.execute(select(Engagement.id, Engagement.company_id, Company.name, Company.siret)
                               .join(Company, Company.id == Engagement.company_id)
                               .where(Engagement.lot_id == lot.id)).all()
        found = [(e, c) for e, c, name, siret in rows
                 if fold(name) == wanted or (len(digits) == 14 and siret == digits)]
        if len(found) != 1:
            holders = ", ".join(r[2] for r in rows) or "aucune"
            raise _LineRefused(row.line, (
                f"Entreprise « {row.get('entreprise')} » sans engagement sur le marché "
                f"{row.get('marche')} lot {row.get('lot')} (entreprises du lot : {holders}). "
                "Indiquez le nom exact ou le SIRET."))
        self.engagements[key] = found[0]
        return found[0]

    def validator(self, session: Session, row: HistoryRow) -> int | None:
        text = row.get("valide_par")
        if not text:
            return None
        if text in self.validators:
            return self.validators[text]
        users = session.execute(select(User.id, User.display_name, User.email)
                                .where(User.role == Role.FACILITATEUR)).all()
        found = [uid for uid, name, email in users
                 if fold(name) == fold(text) or (email or "").lower() == text.lower()]
        if len(found) != 1:
            raise _LineRefused(row.line, (
                f"« Validé par » : facilitateur·rice « {text} » inconnu·e ; créez-le avec "
                "« clausebot facilitateur create » ou indiquez son e-mail."))
        self.validators[text] = found[0]
        return found[0]

    # -- one person ----------------------------------------------------------------------------

    def load_person(self, session: Session, person: _Person) -> list[tuple[int, DeclarationLine]]:
        """Everything of one person but the hours, in a savepoint (a refusal leaves nothing of
        them); their monthly hours are returned, recorded for the whole chunk at once."""
        participant = self._participant(session, person)
        self._eligibility(session, participant, person)
        contracts = self._contracts(session, participant, person)
        self._exit(session, participant, person)
        return self._hours(participant, person, contracts)

    def _participant(self, session: Session, person: _Person) -> Participant:
        candidates = session.scalars(select(Participant).where(
            func.lower(Participant.last_name) == person.last_name.lower(),
            Participant.birth_date == person.birth_date, Participant.anonymised_at.is_(None)))
        same = [p for p in candidates if fold(p.first_name) == fold(person.first_name)]
        if len(same) > 1:
            raise _LineRefused(person.rows[0].line, (
                f"Deux fiches existent déjà pour {person.last_name} {person.first_name} né·e le "
                f"{fr_date(person.birth_date)} : fusionnez-les d'abord (clausebot rgpd fusion)."))
        if same:
            return same[0]
        first = person.rows[0]
        gender = first.get("genre").upper()[:1] or None
        if gender is not None and gender not in {g.value for g in Gender}:
            raise _LineRefused(first.line, f"Genre « {first.get('genre')} » : écrivez F, M ou X.")
        qpv_text = fold(first.get("qpv"))
        if qpv_text not in ("", "oui", "non", "o", "n", "1", "0", "x"):
            raise _LineRefused(first.line, f"QPV « {first.get('qpv')} » : écrivez oui ou non.")
        participant = Participant(
            last_name=" ".join(person.last_name.split()), first_name=" ".join(person.first_name.split()),
            birth_date=person.birth_date, gender=Gender(gender) if gender else None,
            commune=first.get("commune") or None, qpv=qpv_text in ("oui", "o", "1", "x"),
            last_activity_at=self.ctx.clock.now())
        session.add(participant)
        session.flush()
        audit.record(session, self.actor, "participant.history_import", "participant", participant.id)
        self.result.counts["personnes"] += 1
        return participant

    def _eligibility(self, session: Session, participant: Participant, person: _Person) -> None:
        catalogue = self.ctx.rulebook.eligibility.criteria
        done: set[tuple[str, dt.date | None]] = set()
        for row in person.rows:
            text = row.get("critere")
            if not text:
                continue
            key = next((k for k, c in catalogue.items() if fold(text) in (fold(k), fold(c.short))), None)
            if key is None:
                valid = ", ".join(catalogue)
                raise _LineRefused(row.line, f"Critère inconnu « {text} » : critères possibles : {valid}.")
            proof = _date(row, "date_du_justificatif", "Date du justificatif")
            if row.problems:
                raise _LineRefused(row.line, row.problems[-1])
            if (key, proof) in done:
                continue
            done.add((key, proof))
            exists = session.scalar(select(Eligibility.id).where(
                Eligibility.participant_id == participant.id, Eligibility.criterion == key,
                Eligibility.proof_date.is_(None) if proof is None else Eligibility.proof_date == proof))
            if exists is not None:
                continue
            validated_at = (dt.datetime.combine(proof, dt.time(12), dt.UTC) if proof
                            else self.ctx.clock.now())
            session.add(Eligibility(participant_id=participant.id, criterion=key, proof_date=proof,
                                    validated_by_id=self.validator(session, row),
                                    validated_at=validated_at))
            session.flush()
            audit.record(session, self.actor, "eligibility.history_import", "participant",
                         participant.id, criterion=key)
            self.result.counts["critères"] += 1

    def _contracts(self, session: Session, participant: Participant, person: _Person
                   ) -> dict[int, Contract]:
        """Row line -> its contract, hiring through the domain when the contract is new."""
        out: dict[int, Contract] = {}
        by_key: dict[tuple[str, str, str, str], Contract] = {}
        for row in person.rows:
            key = (fold(row.get("marche")), row.get("lot"), fold(row.get("entreprise")), row.get("debut"))
            if key in by_key:
                out[row.line] = by_key[key]
                continue
            try:
                contract = self._contract(session, participant, row)
            except _LineRefused:
                raise
            except DomainError as exc:
                raise _LineRefused(row.line, exc.message_fr) from None
            by_key[key] = contract
            out[row.line] = contract
        return out

    def _contract(self, session: Session, participant: Participant, row: HistoryRow) -> Contract:
        """The row's contract: found (same person, engagement and start) or hired."""
        lot = self.lot(session, row)
        engagement_id, company_id = self.engagement(session, row, lot)
        start = _date(row, "debut", "Début", required=True)
        end = _date(row, "fin", "Fin")
        if row.problems:
            raise _LineRefused(row.line, row.problems[-1])
        assert start is not None
        contract_type = contract_type_key(self.ctx, row.get("type_de_contrat"))
        existing = session.scalar(select(Contract).where(
            Contract.participant_id == participant.id, Contract.engagement_id == engagement_id,
            Contract.start_date == start))
        if existing is not None:
            if existing.end_date != end or existing.contract_type != contract_type:
                raise _LineRefused(row.line, (
                    f"Le contrat n° {existing.id} du {fr_date(start)} existe déjà avec un "
                    "autre type ou une autre fin : modifiez-le avec « clausebot contrat "
                    "extend / retype / correct », pas par l'import."))
            contract = existing
        else:
            outcome = record_history_hire(
                self.ctx, session, self.actor, participant_id=participant.id,
                company_id=company_id,
                req=HireRequest(candidature_id=0, lot_id=lot.id, contract_type=contract_type,
                                start=start, end=end),
                source=Channel.CLI)
            hired = session.get(Contract, outcome.contract_id)
            assert hired is not None
            contract = hired
            self.result.counts["contrats"] += 1
        return contract

    def _hours(self, participant: Participant, person: _Person,
               contracts: dict[int, Contract]) -> list[tuple[int, DeclarationLine]]:
        lines: list[DeclarationLine] = []
        line_numbers: list[int] = []
        for row in person.rows:
            if row.month is None or (row.work_hours is None and not row.training_hours):
                continue
            contract = contracts[row.line]
            if not is_running_in_month(contract.start_date, contract.end_date, row.month):
                span = fr_date(contract.start_date) + (f" au {fr_date(contract.end_date)}"
                                                       if contract.end_date else " (sans fin)")
                raise _LineRefused(row.line, (
                    f"Heures de {row.month:%m/%Y} hors du contrat (du {span}) : vérifiez le mois "
                    "ou les dates du contrat."))
            work = row.work_hours or 0
            digest = hashlib.sha256(
                f"{contract.id}:{row.month}:{work}:{row.training_hours}".encode()).hexdigest()[:32]
            if any(line.key == f"history:{digest}" for line in lines):
                continue  # the same month repeated identically (e.g. on an exit line): once
            lines.append(DeclarationLine(
                key=f"history:{digest}", last_name=participant.last_name,
                first_name=participant.first_name, market_reference=row.get("marche"),
                lot_number=parse_lot_number(row.get("lot")), month=row.month,
                work_hours=row.work_hours or Decimal(0), training_hours=row.training_hours))
            line_numbers.append(row.line)
        return list(zip(line_numbers, lines, strict=True))

    def record_hours(self, session: Session, pending: list[tuple[int, DeclarationLine]]) -> None:
        """A chunk's monthly hours through ``record_lines``; each refusal names its line."""
        if not pending:
            return
        results = record_lines(self.ctx, session, self.actor, [line for _, line in pending],
                               source=Channel.CLI)
        for (line_no, _), res in zip(pending, results, strict=True):
            if res.error is not None:
                self.result.errors.append((line_no, res.error.message_fr))
            elif res.status == "created":
                self.result.counts["mois"] += 1

    def _exit(self, session: Session, participant: Participant, person: _Person) -> None:
        rows = [r for r in person.rows if r.get("sortie") or r.get("date_de_sortie")]
        if not rows:
            return
        values = {(fold(r.get("sortie")), r.get("date_de_sortie")) for r in rows}
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
                          if fold(text) in (fold(k), fold(label.split(" — ")[-1]))), text)
        if participant.exit_situation == situation and participant.exit_date == when:
            return
        try:
            record_exit(self.ctx, session, self.actor, participant.id, situation=situation,
                        exit_date=when)
        except DomainError as exc:
            raise _LineRefused(row.line, exc.message_fr) from None
        self.result.counts["sorties"] += 1


def import_history(ctx: Context, actor: Actor, rows: list[HistoryRow],
                   unit: Callable[[], AbstractContextManager[Session]], *,
                   dry_run: bool, chunk_rows: int = CHUNK_ROWS, pause: float = 0.0) -> HistoryResult:
    """Validate every row (pass 1, rolled back chunk by chunk), then write (pass 2, a commit
    per chunk) when nothing was refused and this is not a dry run. ``unit`` opens one write
    transaction (``Database.session``). See the module for why two passes."""
    result = HistoryResult(lines=len({r.line for r in rows}))
    persons, errors = group_persons(rows)
    result.errors.extend(errors)
    for write in (False, True):
        if write and (dry_run or result.errors):
            break
        counts = dict.fromkeys(result.counts, 0)
        result.counts = counts
        loader = _Loader(ctx, actor, result)
        for batch in chunks(persons, chunk_rows):
            with unit() as session:
                pending: list[tuple[int, DeclarationLine]] = []
                for person in batch:
                    try:
                        with session.begin_nested():
                            pending.extend(loader.load_person(session, person))
                    except DomainError as exc:
                        line = exc.line if isinstance(exc, _LineRefused) else person.rows[0].line
                        result.errors.append((line, exc.message_fr))
                        session.expunge_all()  # rows of the rolled-back savepoint: forget them
                loader.record_hours(session, pending)
                if not write:
                    session.rollback()
            result.chunks += 1
            if pause:
                time.sleep(pause)  # let a waiting chat writer take SQLite's lock (see module)
        if write and result.errors:  # a live change between the passes: finish by re-importing
            break
    result.errors.sort()
    return result
