"""The « Embauches » sheet of the declaration workbook: a company declares a hire by e-mail.

Why a sheet rather than columns on the declaration lines: a hire is said once (candidature,
lot, contract type, dates, carrier, post) while hours are said every month; one line per hire
keeps the monthly sheet unchanged for everyone who does not hire. The sheet is read before the
« Déclaration » sheet of the same workbook, so one file can carry a new hire and its first month.
CSV files have one sheet only: they carry declarations, never hires.

The columns drive the template (:func:`add_to_template`, called by
:func:`mail.declaration_template.build_xlsx`) and the reader, so they cannot drift apart. Each
line goes to the domain's :func:`clauses.hiring.record_hire` in its own savepoint: a refused line
writes nothing and is answered with the domain's French reason; a line sent again answers
« déjà enregistrée » (one contract per candidature).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from clauses.actors import Actor
from clauses.context import Context
from clauses.errors import DomainError
from clauses.hiring import HireRequest, find_carrier, find_lot, read_date, record_hire
from mail.declaration_template import Column
from mail.spreadsheet import HIRE_SHEETS, SheetError, _cell_text, _norm_header, _rows_from_xlsx
from storage.models import Channel

HIRE_SHEET_TITLE = "Embauches"
HIRE_COLUMNS: tuple[Column, ...] = (
    Column("candidature", "candidature", True,
           "Numéro de la candidature validée (donné par le message de validation)", "12", 12),
    Column("marche", "marche", True, "Référence du marché (ex. 2025-017)", "2025-017", 14),
    Column("lot", "lot", True, "Numéro du lot", "2", 6),
    Column("type_contrat", "type_contrat", True,
           "Type de contrat : CDI, CDD, Intérim, CDDI, apprentissage…", "CDD", 14),
    Column("date_debut", "date_debut", True, "Premier jour du contrat JJ/MM/AAAA", "03/03/2025", 12),
    Column("date_fin", "date_fin", False, "Fin prévue JJ/MM/AAAA (vide pour un CDI)", "31/08/2025", 12),
    Column("porteur", "porteur", False,
           "Structure qui porte le contrat si ce n'est pas vous (ETTI, AI, GEIQ, EI, ACI)", "", 24),
    Column("poste", "poste", False, "Intitulé du poste", "Maçon", 20),
)
REQUIRED = tuple(c.key for c in HIRE_COLUMNS if c.required)
INSTRUCTIONS_FR = (
    "Onglet « Embauches » (facultatif) : une ligne par embauche d'un candidat validé, avant ses "
    "heures. Une embauche et son premier mois peuvent partir dans le même fichier.",
)


@dataclass(frozen=True)
class HireLine:
    row: int
    candidature_id: int
    market_reference: str
    lot_number: int
    contract_type: str
    start: dt.date
    end: dt.date | None
    carrier: str | None
    job_title: str | None


def add_to_template(wb: Any) -> None:
    """Add the « Embauches » sheet, with its headers, to the template workbook."""
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet(HIRE_SHEET_TITLE, 1)
    ws.append([c.header for c in HIRE_COLUMNS])
    for index, column in enumerate(HIRE_COLUMNS, start=1):
        cell = ws.cell(row=1, column=index)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="E2EFDA")
        ws.column_dimensions[get_column_letter(index)].width = column.width
        if column.key in ("marche", "date_debut", "date_fin"):
            for row in range(2, 102):
                ws.cell(row=row, column=index).number_format = "@"
    ws.freeze_panes = "A2"


def help_lines() -> list[str]:
    """The sheet's lines of the template's instructions."""
    lines = [*INSTRUCTIONS_FR]
    for column in HIRE_COLUMNS:
        flag = "obligatoire" if column.required else "facultatif"
        lines.append(f"  {column.header} ({flag}) : {column.help_fr}")
    return lines


def _date(value: Any, what: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return read_date(_cell_text(value), what)


def parse_hire_sheet(data: bytes, *, max_rows: int = 500) -> tuple[list[HireLine], list[SheetError]]:
    """The hires of an XLSX workbook's « Embauches » sheet (none when it has no such sheet).
    Never raises on bad content: a line that cannot be read becomes an error."""
    try:
        rows = next((rows for name, rows in _rows_from_xlsx(data, max_rows, only=HIRE_SHEETS)
                     if _norm_header(name) in HIRE_SHEETS), [])
    except Exception:
        return [], []  # the declaration reader reports an unreadable file
    header: dict[str, int] | None = None
    lines: list[HireLine] = []
    errors: list[SheetError] = []
    for row_number, values in rows:
        if not any(_cell_text(v) for v in values):
            continue
        if header is None:
            mapped = {_norm_header(v): i for i, v in enumerate(values) if _norm_header(v)}
            missing = [k for k in REQUIRED if k not in mapped]
            if missing:
                errors.append(SheetError(row_number, "onglet Embauches : colonne(s) manquante(s) "
                                         + ", ".join(missing) + ". Utilisez le modèle."))
                return [], errors
            header = mapped
            continue

        def cell(key: str, values: list[Any] = values, header: dict[str, int] = header) -> Any:
            col = header.get(key)
            return values[col] if col is not None and col < len(values) else None

        try:
            number = _cell_text(cell("candidature")).lstrip("nN°o ").strip()
            if not number.isdigit():
                raise DomainError("numéro de candidature manquant ou illisible (ex. 12)")
            lot = re.sub(r"(?i)^lot\s*", "", _cell_text(cell("lot")))
            if not lot.isdigit():
                raise DomainError("numéro de lot manquant ou illisible (ex. 2)")
            market = _cell_text(cell("marche"))
            kind = _cell_text(cell("type_contrat"))
            if not market or not kind:
                raise DomainError("marché et type de contrat sont obligatoires")
            end_text = cell("date_fin")
            lines.append(HireLine(
                row=row_number, candidature_id=int(number), market_reference=market[:60],
                lot_number=int(lot), contract_type=kind[:60],
                start=_date(cell("date_debut"), "Date de début"),
                end=_date(end_text, "Date de fin") if _cell_text(end_text) else None,
                carrier=_cell_text(cell("porteur"))[:200] or None,
                job_title=_cell_text(cell("poste"))[:200] or None,
            ))
        except DomainError as exc:
            errors.append(SheetError(row_number, exc.message_fr.rstrip(".") + "."))
    return lines, errors


def record_hire_lines(ctx: Context, session: Session, actor: Actor, lines: list[HireLine]
                      ) -> tuple[list[dict[str, Any]], list[SheetError]]:
    """Each hire through the domain, in its own savepoint; (recorded, refused)."""
    recorded: list[dict[str, Any]] = []
    errors: list[SheetError] = []
    for line in lines:
        try:
            with session.begin_nested():
                lot = find_lot(session, line.market_reference, line.lot_number)
                req = HireRequest(
                    candidature_id=line.candidature_id, lot_id=lot.id,
                    contract_type=line.contract_type, start=line.start, end=line.end,
                    employer_id=find_carrier(session, line.carrier).id if line.carrier else None,
                    job_title=line.job_title,
                )
                outcome = record_hire(ctx, session, actor, req, source=Channel.EMAIL)
        except DomainError as exc:
            errors.append(SheetError(line.row, exc.message_fr))
            continue
        recorded.append({"row": line.row, "message": outcome.message_fr, "created": outcome.created})
    return recorded, errors
