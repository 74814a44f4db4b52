"""Read a filled-in declaration spreadsheet (XLSX or CSV) into lines, with per-line errors.

Pure parsing, no database: the caller (e-mail intake, or the chat bot for an uploaded file)
sends each line to the domain (`clauses.declarations`) and merges the domain's refusals with
the format errors found here, so the company gets every problem in one answer.

XLSX files must have passed :func:`mail.safety.inspect` first (zip-bomb and XML-entity checks);
openpyxl then parses them with defusedxml (it uses it automatically when installed, which the
assertion below makes explicit).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from clauses.errors import DomainError
from clauses.formatting import parse_hours, parse_month
from mail.declaration_template import COLUMNS

_ALIASES: dict[str, str] = {
    "marche": "marche", "marche_reference": "marche", "reference_marche": "marche", "ref_marche": "marche",
    "lot": "lot", "numero_lot": "lot", "n_lot": "lot", "lot_n": "lot",
    "nom": "nom", "nom_de_famille": "nom", "nom_participant": "nom",
    "prenom": "prenom", "prenom_participant": "prenom",
    "mois": "mois", "periode": "mois", "mois_mm_aaaa": "mois",
    "heures_travail": "heures_travail", "heures_de_travail": "heures_travail", "heures": "heures_travail",
    "heures_travaillees": "heures_travail",
    "heures_formation": "heures_formation", "heures_de_formation": "heures_formation",
    "motif_correction": "motif_correction", "motif": "motif_correction", "correction": "motif_correction",
    "motif_de_correction": "motif_correction",
}  # fmt: skip
REQUIRED = tuple(c.key for c in COLUMNS if c.required)
NO_LINES_FR = "Le fichier ne contient aucune ligne de déclaration."

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SheetLine:
    row: int
    market_reference: str | None
    lot_number: int | None
    last_name: str
    first_name: str | None
    month: dt.date
    work_hours: Decimal
    training_hours: Decimal
    correction_reason: str | None


@dataclass(frozen=True)
class SheetError:
    row: int
    message_fr: str


@dataclass
class SheetParse:
    lines: list[SheetLine] = field(default_factory=list)
    errors: list[SheetError] = field(default_factory=list)
    fatal: str | None = None


def _norm_header(value: Any) -> str:
    text = unicodedata.normalize("NFKD", str(value or ""))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = re.sub(r"\(.*?\)", "", text)
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    # NFC: a name typed on a Mac (decomposed accents) must match the same name stored composed.
    return unicodedata.normalize("NFC", " ".join(str(value).split()))


def _month(value: Any, today: dt.date) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date().replace(day=1)
    if isinstance(value, dt.date):
        return value.replace(day=1)
    text = _cell_text(value)
    if not text:
        raise DomainError("mois manquant (format MM/AAAA, par exemple 05/2025).")
    return parse_month(text, today=today)


def _hours(value: Any, what: str, *, required: bool) -> Decimal:
    if value is None or _cell_text(value) == "":
        if required:
            raise DomainError(f"{what} manquantes.")
        return Decimal(0)
    if isinstance(value, bool):
        raise DomainError(f"{what} : nombre attendu.")
    if isinstance(value, int | float | Decimal):
        try:
            number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        except InvalidOperation as exc:
            raise DomainError(f"{what} : nombre non reconnu.") from exc
        # Floats from spreadsheets carry binary noise (151.67000000000002).
        rounded = number.quantize(Decimal("0.01"))
        return rounded if abs(rounded - number) < Decimal("0.000001") else number
    return parse_hours(_cell_text(value))


def _lot(value: Any) -> int | None:
    text = _cell_text(value)
    if not text:
        return None
    match = re.fullmatch(r"(?:lot\s*(?:n[°o]?\s*)?)?(\d{1,4})", text, flags=re.IGNORECASE)
    if not match:
        raise DomainError(f"lot « {text[:20]} » non reconnu : indiquez son numéro (ex. 2).")
    return int(match.group(1))


def _rows_from_xlsx(data: bytes, max_rows: int, wanted: tuple[str, ...] = ("declaration", "declarations"),
                    *, first_otherwise: bool = True) -> list[tuple[int, list[Any]]]:
    """(row number, first 40 values) of the declaration sheet (or of the sheet named one of
    ``wanted``; none when absent and not ``first_otherwise``), empty rows included.

    Why not ``load_workbook(read_only=True)`` then ``iter_rows``: for a sheet without a
    ``<dimension>`` element (what openpyxl itself and many exporters write) the read-only
    worksheet parses the whole sheet once just to size it, then again to read it, and wraps
    every cell in an object: half the cost of a 10,000-line file. Here openpyxl's own workbook,
    styles and sheet parsers (same defusedxml parsing, same date and number conversion) are
    driven directly, in one pass over the sheet.
    """
    from openpyxl import xml as openpyxl_xml
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.styles.stylesheet import apply_stylesheet

    if not openpyxl_xml.DEFUSEDXML:  # pragma: no cover - defusedxml is a declared dependency
        raise RuntimeError("openpyxl must parse with defusedxml")
    reader = ExcelReader(io.BytesIO(data), read_only=True, data_only=True)
    try:
        reader.read_manifest()
        reader.read_strings()
        reader.read_workbook()
        apply_stylesheet(reader.archive, reader.wb)
        sheets = {sheet.name: rel.target for sheet, rel in reader.parser.find_sheets()
                  if rel.target in reader.valid_files and "chartsheet" not in rel.Type}
        names = list(sheets)
        name = next((n for n in names if _norm_header(n) in wanted),
                    names[0] if first_otherwise else None)
        if name is None:
            return []
        wb = reader.wb
        rows: list[tuple[int, list[Any]]] = []
        with reader.archive.open(sheets[name]) as source:
            parser = _sheet_parser_class()(
                source, reader.shared_strings, data_only=True, epoch=wb.epoch,
                date_formats=wb._date_formats, timedelta_formats=wb._timedelta_formats)
            for index, cells in parser.parse():
                if index > max_rows + 10:
                    raise _TooManyRows()
                rows.extend((gap, []) for gap in range(len(rows) + 1, index))
                values: list[Any] = []
                for cell in cells:
                    column = cell["column"]
                    if column <= 40:
                        values.extend([None] * (column - len(values)))
                        values[column - 1] = cell["value"]
                rows.append((index, values))
        return rows
    finally:
        reader.archive.close()


@functools.cache
def _sheet_parser_class() -> type:
    """openpyxl's sheet parser, reading inline strings (what openpyxl and many exporters write
    for text) as plain text instead of building a rich-text object per cell: a third of the
    parse time of such files. Every other kind of cell goes through openpyxl unchanged."""
    from openpyxl.utils.cell import coordinate_to_tuple
    from openpyxl.worksheet._reader import WorkSheetParser
    from openpyxl.xml.constants import SHEET_MAIN_NS

    inline, text, run = (f"{{{SHEET_MAIN_NS}}}{tag}" for tag in ("is", "t", "r"))

    class SheetParser(WorkSheetParser):  # type: ignore[misc]
        def parse_cell(self, element: Any) -> dict[str, Any]:
            child = element.find(inline) if element.get("t") == "inlineStr" else None
            if child is None:
                return super().parse_cell(element)
            coordinate = element.get("r")
            if coordinate:
                row, column = coordinate_to_tuple(coordinate)
                self.col_counter = column
            else:
                self.col_counter += 1
                row, column = self.row_counter, self.col_counter
            # Text.content: the plain text, then the runs' text (phonetic hints left out).
            value = "".join(t.text or "" for t in child.findall(text)) + "".join(
                t.text or "" for t in child.findall(f"{run}/{text}"))
            return {"row": row, "column": column, "value": value, "data_type": "s",
                    "style_id": int(element.get("s", 0) or 0)}

    return SheetParser


class _TooManyRows(Exception):
    pass


def _rows_from_csv(data: bytes, max_rows: int) -> list[tuple[int, list[Any]]]:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - cp1252 fails only on five unused bytes
        text = data.decode("latin-1")
    first = text.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first.count)
    rows: list[tuple[int, list[Any]]] = []
    for index, values in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), start=1):
        if index > max_rows + 10:
            raise _TooManyRows()
        rows.append((index, values[:40]))
    return rows


def parse_declaration_file(data: bytes, *, kind: str, today: dt.date, max_rows: int = 2000) -> SheetParse:
    """Lines of a declaration file; `kind` is "xlsx" or "csv". Never raises on bad content."""
    result = SheetParse()
    try:
        rows = _rows_from_xlsx(data, max_rows) if kind == "xlsx" else _rows_from_csv(data, max_rows)
    except _TooManyRows:
        result.fatal = f"Le fichier dépasse {max_rows} lignes : découpez-le en plusieurs envois."
        return result
    except Exception:
        # Logged: a broken file and a broken reader (openpyxl internals moved) look the same
        # to the sender, not to whoever reads the logs.
        log.warning("declaration file unreadable", exc_info=True)
        result.fatal = ("Le fichier n'a pas pu être lu comme un tableau. Utilisez le modèle de "
                        "déclaration (XLSX ou CSV) joint à ce message.")
        return result

    header_index: int | None = None
    columns: dict[str, int] = {}
    for position, (_, values) in enumerate(rows[:10]):
        mapped = {}
        for col, value in enumerate(values):
            key = _ALIASES.get(_norm_header(value))
            if key and key not in mapped:
                mapped[key] = col
        if "nom" in mapped and "mois" in mapped:
            header_index, columns = position, mapped
            break
    if header_index is None:
        result.fatal = ("Ligne de titres introuvable : la première ligne doit contenir les colonnes "
                        + ", ".join(c.header for c in COLUMNS) + ". Utilisez le modèle joint.")
        return result
    missing = [k for k in REQUIRED if k not in columns]
    if missing:
        result.fatal = "Colonne(s) obligatoire(s) manquante(s) : " + ", ".join(missing) + ". Utilisez le modèle joint."
        return result

    def cell(values: list[Any], key: str) -> Any:
        col = columns.get(key)
        return values[col] if col is not None and col < len(values) else None

    data_rows = rows[header_index + 1:]
    if sum(1 for _, v in data_rows if any(_cell_text(x) for x in v)) > max_rows:
        result.fatal = f"Le fichier dépasse {max_rows} lignes : découpez-le en plusieurs envois."
        return result
    for row_number, values in data_rows:
        if not any(_cell_text(v) for v in values):
            continue
        problems: list[str] = []
        last_name = _cell_text(cell(values, "nom"))
        first_name = _cell_text(cell(values, "prenom")) or None
        if not last_name:
            problems.append("nom manquant")
        parsed: dict[str, Any] = {}
        steps: tuple[tuple[str, str, Any], ...] = (
            ("month", "mois", lambda v: _month(v, today)),
            ("work", "heures_travail", lambda v: _hours(v, "heures de travail", required=True)),
            ("training", "heures_formation", lambda v: _hours(v, "heures de formation", required=False)),
            ("lot", "lot", _lot),
        )
        for name, column, convert in steps:
            try:
                parsed[name] = convert(cell(values, column))
            except DomainError as exc:
                problems.append(exc.message_fr.rstrip("."))
        if problems:
            result.errors.append(SheetError(row_number, " ; ".join(problems) + "."))
            continue
        market = _cell_text(cell(values, "marche")) or None
        reason = _cell_text(cell(values, "motif_correction")) or None
        result.lines.append(
            SheetLine(
                row=row_number,
                market_reference=market[:60] if market else None,
                lot_number=parsed["lot"],
                last_name=last_name[:100],
                first_name=first_name[:100] if first_name else None,
                month=parsed["month"],
                work_hours=parsed["work"],
                training_hours=parsed["training"],
                correction_reason=reason[:500] if reason else None,
            )
        )
    if not result.lines and not result.errors:
        result.fatal = NO_LINES_FR
    return result
