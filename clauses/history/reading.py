"""Reading an agency's tracking spreadsheet into history lines (no database here).

Why a reader of its own: the territory CSV (``clauses.importing``) refuses windows-1252 and XLSX,
whereas a facilitator's history grid is usually an Excel file or Excel's plain CSV. Two shapes
are accepted, the ones facilitators keep:

* one line per person-contract-month (a ``mois`` column, hours in ``heures travail``);
* one line per person-contract with one column per month (« 01/2025 », « janv. 2025 »...),
  the cell holding the month's work hours.

Both become :class:`HistoryRow` objects carrying the file's line number, so every refusal names
the line a spreadsheet shows.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import functools
import io
from dataclasses import dataclass, field
from decimal import Decimal

from clauses.errors import DomainError
from clauses.formatting import fold, parse_month
from clauses.importing.values import ValueProblem, parse_hours_value, to_key

COLUMNS = {
    "nom": "last_name", "prenom": "first_name", "date_de_naissance": "birth_date",
    "genre": "gender", "commune": "commune", "qpv": "qpv", "critere": "criterion",
    "date_du_justificatif": "proof_date", "valide_par": "validated_by", "marche": "market",
    "lot": "lot", "entreprise": "company", "type_de_contrat": "contract_type", "debut": "start",
    "fin": "end", "mois": "month", "heures_travail": "work_hours",
    "heures_formation": "training_hours", "sortie": "exit_situation",
    "date_de_sortie": "exit_date",
}
"""Header (folded, spaces as ``_``) -> field; ``to_key`` folds case, accents and spaces."""
_parse_hours = functools.lru_cache(maxsize=4096)(parse_hours_value)
_parse_month = functools.lru_cache(maxsize=4096)(parse_month)
"""Cached: a grid holds a few dozen distinct months and hour figures over thousands of lines."""

REQUIRED = ("nom", "prenom", "date_de_naissance", "marche", "lot", "entreprise",
            "type_de_contrat", "debut")


class HistoryFileError(DomainError):
    """The file as a whole is unusable (encoding, header): nothing was read."""

    code = "history_file"


@dataclass
class HistoryRow:
    """One person-contract-month (or person-contract with no month) as written in the file."""

    line: int
    cells: dict[str, str]
    month: dt.date | None = None
    work_hours: Decimal | None = None
    training_hours: Decimal = Decimal(0)
    problems: list[str] = field(default_factory=list)

    def get(self, name: str) -> str:
        return self.cells.get(name, "").strip()


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else windows-1252 (Excel's plain « CSV »): detected, since
    a valid UTF-8 accent is never a windows-1252 pair a French grid contains."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise HistoryFileError("Le fichier est en UTF-16 : enregistrez-le en « CSV UTF-8 » ou "
                               "en classeur Excel (.xlsx).")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_table(data: bytes, filename: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) of every non-empty line, header included, from CSV or XLSX."""
    if data.startswith(b"PK\x03\x04") or filename.lower().endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # any damaged archive: one French message
            raise HistoryFileError(f"Classeur illisible ({type(exc).__name__}) : ouvrez-le et "
                                   "enregistrez-le à nouveau en .xlsx.") from None
        sheet = book.worksheets[0]
        out = []
        for n, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = [_cell_text(v).strip() for v in values]
            if any(cells):
                out.append((n, cells))
        book.close()
        return out
    text = decode(data)
    lines = text.splitlines()
    if not lines:
        raise HistoryFileError("Le fichier est vide : aucune ligne d'en-tête.")
    delimiter = ";" if lines[0].count(";") >= lines[0].count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    out, previous_end = [], 0
    try:
        for cells in reader:
            line_no, previous_end = previous_end + 1, reader.line_num
            if any(c.strip() for c in cells):
                out.append((line_no, [c.strip() for c in cells]))
    except csv.Error as exc:
        raise HistoryFileError(f"CSV mal formé vers la ligne {reader.line_num} ({exc}).") from None
    return out


def _month_header(text: str) -> dt.date | None:
    """« 01/2025 », « janv. 2025 », « 2025-01 » as a month column, else None."""
    if not any(ch.isdigit() for ch in text):
        return None
    try:
        return parse_month(fold(text).replace(".", " ").replace("  ", " ")
                           if not text[:1].isdigit() else text)
    except DomainError:
        return None


def _hours(text: str, what: str, row: HistoryRow) -> Decimal | None:
    try:
        return _parse_hours(text) if text else None
    except ValueProblem as exc:
        row.problems.append(f"{what} : {exc}")
        return None


def parse_rows(data: bytes, filename: str) -> list[HistoryRow]:
    """Every line of the file as a :class:`HistoryRow`, in file order (see module)."""
    table = read_table(data, filename)
    if not table:
        raise HistoryFileError("Le fichier est vide : aucune ligne d'en-tête.")
    _, header = table[0]
    names: list[str | None] = []
    months: dict[int, dt.date] = {}
    unknown = []
    for i, title in enumerate(header):
        key = to_key(title)
        if key in COLUMNS:
            names.append(key)
        elif not title:
            names.append(None)
        elif (month := _month_header(title)) is not None:
            names.append(None)
            months[i] = month
        else:
            names.append(None)
            unknown.append(title)
    if unknown:
        raise HistoryFileError(
            "Colonne(s) inconnue(s) : " + ", ".join(f"« {u} »" for u in unknown)
            + ". Colonnes possibles : " + ", ".join(COLUMNS) + ", ou des mois (« 01/2025 », "
            "« janv. 2025 »). Modèle : examples/agence/historique.csv.")
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise HistoryFileError("Colonne(s) obligatoire(s) absente(s) : " + ", ".join(missing)
                               + ". Modèle : examples/agence/historique.csv.")
    if months and "mois" in names:
        raise HistoryFileError("Le fichier a une colonne « mois » et des colonnes de mois : "
                               "choisissez une seule forme (une ligne par mois, ou un mois par "
                               "colonne).")
    rows: list[HistoryRow] = []
    for line_no, cells in table[1:]:
        values = {n: (cells[i] if i < len(cells) else "") for i, n in enumerate(names) if n}
        if months:
            base = HistoryRow(line_no, values)
            filled = [(m, cells[i]) for i, m in months.items() if i < len(cells) and cells[i]]
            if not filled:
                rows.append(base)
            for month, text in filled:
                row = HistoryRow(line_no, values, month=month)
                row.work_hours = _hours(text, f"Heures de {month:%m/%Y}", row)
                rows.append(row)
            continue
        row = HistoryRow(line_no, values)
        if row.get("mois"):
            try:
                row.month = _parse_month(row.get("mois"))
            except DomainError as exc:
                row.problems.append(exc.message_fr)
        row.work_hours = _hours(row.get("heures_travail"), "Heures travail", row)
        row.training_hours = _hours(row.get("heures_formation"), "Heures formation", row) or Decimal(0)
        if row.month is None and (row.work_hours or row.training_hours):
            row.problems.append("Des heures sans mois : remplissez la colonne « mois ».")
        rows.append(row)
    return rows
