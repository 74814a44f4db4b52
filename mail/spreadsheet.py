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
import difflib
import io
import logging
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from clauses.errors import DomainError
from clauses.formatting import parse_hours, parse_month
from mail.declaration_template import COLUMNS

SYNONYMS: dict[str, tuple[str, ...]] = {
    "marche": ("marche", "marche reference", "reference marche", "reference du marche", "ref marche",
               "n marche", "numero marche", "numero de marche", "marche n", "operation", "chantier"),
    "lot": ("lot", "numero lot", "numero de lot", "n lot", "lot n"),
    "marche_lot": ("marche lot", "marche et lot", "marche ou lot", "ref marche lot", "marche lot n",
                   "reference marche lot"),
    "nom": ("nom", "nom de famille", "nom participant", "nom du participant", "nom salarie",
            "nom du salarie", "nom de naissance"),
    "prenom": ("prenom", "prenom participant", "prenom du participant", "prenom salarie",
               "prenom du salarie"),
    "nom_complet": ("participant", "participants", "salarie", "salaries", "salarie en insertion",
                    "nom prenom", "nom et prenom", "prenom nom", "prenom et nom", "nom complet",
                    "beneficiaire", "personne", "intervenant", "agent", "identite"),
    "mois": ("mois", "periode", "mois concerne", "mois travaille", "mois de travail", "mois declare",
             "mois mm aaaa", "date", "mois annee"),
    "heures_travail": ("heures travail", "heures de travail", "heures", "heures travaillees",
                       "nb heures", "nombre d heures", "nombre heures", "heures realisees",
                       "heures effectuees", "volume horaire", "total heures", "heures insertion",
                       "heures d insertion", "nb h", "h travaillees", "heures payees"),
    "heures_formation": ("heures formation", "heures de formation", "formation", "h formation",
                         "nb heures formation"),
    "motif_correction": ("motif correction", "motif", "correction", "motif de correction",
                         "motif de la correction"),
}  # fmt: skip
"""Header names companies use, by column (accents, case, punctuation and parentheses ignored);
a header not in the list is matched when close enough to one (a typo, a plural): see
:func:`header_key`. Documented in the README (« Fichiers de déclaration »)."""
FUZZY_CUTOFF = 0.86
REQUIRED = tuple(c.key for c in COLUMNS if c.required)
NO_LINES_FR = "Le fichier ne contient aucune ligne de déclaration."
HIRE_SHEETS = ("embauches", "embauche")
"""Sheets of the workbook read by :mod:`mail.hire_sheet`, never as declarations."""
_SYNONYM_KEY = {syn: key for key, syns in SYNONYMS.items() for syn in syns}
LABEL_FR = {"marche": "marché", "lot": "lot", "marche_lot": "marché / lot", "nom": "nom",
            "prenom": "prénom", "nom_complet": "nom et prénom", "mois": "mois",
            "heures_travail": "heures de travail", "heures_formation": "heures de formation",
            "motif_correction": "motif de correction"}

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
    sheet: str | None = None
    """The sheet's name when the file has several sheets read (part of the line's key)."""
    column: int | None = None
    """In a file with one column per month, the month's column (part of the line's key)."""
    full_name: bool = False
    """`last_name` holds a full name from a « Participant » column, to split against the
    company's own people (:func:`clauses.full_names.split_full_names`)."""


@dataclass(frozen=True)
class SheetError:
    row: int
    message_fr: str
    sheet: str | None = None


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


def _has_text(value: Any) -> bool:
    """``_cell_text(value) != ""`` without building the text: the blank-row test runs on every
    cell of every line (str.split and str.isspace agree on what whitespace is)."""
    if value is None:
        return False
    return not isinstance(value, str) or (value != "" and not value.isspace())


_TOTAL_ROW = re.compile(r"(?i)total\b.*|sous[- ]total\b.*")
"""A totals row, as company files have: skipped."""


_EXCEL_MONTH = re.compile(r"^([^\W\d_]+)\.?-(\d{2}|\d{4})$")
"""« févr-25 », « sept.-2025 »: how French Excel shows a month cell (format mmm-aa), and so what
a CSV exported from it holds."""


def _month_text(text: str) -> str:
    match = _EXCEL_MONTH.match(text)
    return f"{match.group(1)} {match.group(2)}" if match else text


def _month(value: Any, today: dt.date) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date().replace(day=1)
    if isinstance(value, dt.date):
        return value.replace(day=1)
    text = _cell_text(value)
    if not text:
        raise DomainError("mois manquant (format MM/AAAA, par exemple 05/2025).")
    if _month_text(text) != text:
        try:
            return parse_month(_month_text(text), today=today)
        except DomainError:
            pass  # refused below, quoting what the person wrote
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


Rows = list[tuple[int, list[Any]]]


_WORKBOOK_XML_LIMIT = 1024 * 1024


def xlsx_sheet_names(data: bytes) -> list[str] | None:
    """The sheet names listed in ``xl/workbook.xml``, read with zipfile and defusedxml alone;
    None when that part is not where the standard puts it, too large or unreadable (the caller
    then lets openpyxl decide). Why: openpyxl's manifest and workbook readers cost several
    milliseconds a file, and the « Embauches » reader only needs to know whether such a sheet
    exists, which most declaration files answer with no."""
    from defusedxml.ElementTree import fromstring

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = archive.getinfo("xl/workbook.xml")
            if info.file_size > _WORKBOOK_XML_LIMIT:
                return None
            with archive.open(info) as part:
                xml = part.read(_WORKBOOK_XML_LIMIT + 1)
        if len(xml) > _WORKBOOK_XML_LIMIT:
            return None
        root = fromstring(xml)
    except Exception:  # any problem: openpyxl reads the file and reports it
        return None
    names = [el.get("name") for el in root.iter() if el.tag.rsplit("}", 1)[-1] == "sheet"]
    return [n for n in names if n is not None] or None


def _first_sheets(names: Iterable[str]) -> list[str]:
    """The sheets read, in order: a « Déclaration(s) » sheet first, then the others; 20 at most
    (one rule for the quick check on the sheet list and for the reading itself)."""
    return sorted(names, key=lambda n: _norm_header(n) not in ("declaration", "declarations"))[:20]


def _rows_from_xlsx(data: bytes, max_rows: int, only: tuple[str, ...] | None = None
                    ) -> list[tuple[str, Rows]]:
    """(sheet name, [(row number, first 40 values)]) of every worksheet, empty rows included;
    a sheet named « Déclaration » first (companies' own files keep a month per sheet, or a
    summary sheet beside the data: each sheet is offered to the header search). With ``only``
    (normalised sheet names), just those sheets are read: the « Embauches » reader does not
    parse the declarations again.

    Why not ``load_workbook(read_only=True)`` then ``iter_rows``: for a sheet without a
    ``<dimension>`` element (what openpyxl itself and many exporters write) the read-only
    worksheet parses the whole sheet once just to size it, then again to read it, and wraps
    every cell in an object. Here openpyxl reads the workbook, its shared strings and styles
    (the date formats), and :func:`_sheet_rows` reads the sheet's cells in one pass, with the
    same defusedxml parser and openpyxl's own conversions: 3-4x faster on a 10,000-line file.
    """
    if only is not None and (listed := xlsx_sheet_names(data)) is not None \
            and not any(_norm_header(name) in only for name in _first_sheets(listed)):
        return []  # no such sheet: openpyxl is not even started
    from openpyxl import xml as openpyxl_xml
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.styles.stylesheet import apply_stylesheet

    if not openpyxl_xml.DEFUSEDXML:  # pragma: no cover - defusedxml is a declared dependency
        raise RuntimeError("openpyxl must parse with defusedxml")
    reader = ExcelReader(io.BytesIO(data), read_only=True, data_only=True)
    try:
        reader.read_manifest()
        reader.read_workbook()
        sheets = {sheet.name: rel.target for sheet, rel in reader.parser.find_sheets()
                  if rel.target in reader.valid_files and "chartsheet" not in rel.Type}
        names = _first_sheets(sheets)
        if only is not None and not any(_norm_header(name) in only for name in names):
            # No such sheet (the « Embauches » reader on a plain declaration file): the shared
            # strings and the stylesheet are not read (14 ms of a small file's 30).
            return []
        reader.read_strings()
        apply_stylesheet(reader.archive, reader.wb)
        wb = reader.wb
        out: list[tuple[str, Rows]] = []
        total = 0
        for name in names:
            if only is not None and _norm_header(name) not in only:
                continue
            limit = min(max_rows + 10, max_rows + 10 * (len(out) + 1) - total)
            with reader.archive.open(sheets[name]) as source:
                rows = _sheet_rows(source, reader.shared_strings, wb.epoch, wb._date_formats,
                                   wb._timedelta_formats, max_rows + 10, limit)
            total += sum(1 for _, v in rows if v)
            out.append((name, rows))
        return out
    finally:
        reader.archive.close()


_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_ROW, _CELL, _VALUE, _INLINE, _TEXT, _PHONETIC = (
    f"{_MAIN}{tag}" for tag in ("row", "c", "v", "is", "t", "rPh"))


def _refuse_dtd(name: str, sysid: str | None, pubid: str | None, *_: Any) -> None:
    from defusedxml import DTDForbidden

    raise DTDForbidden(name, sysid, pubid)


def _refuse_entity(name: str, *args: Any) -> None:
    from defusedxml import EntitiesForbidden

    raise EntitiesForbidden(name, None, None, None, None, None)


def _refuse_external(context: str, base: str | None, sysid: str | None, pubid: str | None
                     ) -> int:
    from defusedxml import ExternalReferenceForbidden

    raise ExternalReferenceForbidden(context, base, sysid, pubid)


def _column_of(letters: str) -> int:
    """« AB » -> 28."""
    if not letters or not letters.isascii() or not letters.isupper():
        raise ValueError(f"cell reference {letters!r}")
    number = 0
    for ch in letters:
        number = number * 26 + ord(ch) - 64
    return number


_COLUMNS = {letters: _column_of(letters) for letters in (
    [chr(65 + i) for i in range(26)] + [chr(65 + i) + chr(65 + j) for i in range(26) for j in range(26)])}
"""A to ZZ, looked up rather than computed for each cell."""


def _column_number(coordinate: str) -> int:
    """« AB12 » -> 28."""
    letters = coordinate.rstrip("0123456789")
    column = _COLUMNS.get(letters)
    return column if column is not None else _column_of(letters)


def _sheet_rows(source: Any, shared_strings: Sequence[Any], epoch: dt.datetime,
                date_formats: set[int], timedelta_formats: set[int], max_index: int,
                max_count: int) -> Rows:
    """The rows of one sheet's XML, each as its first 40 cell values, as openpyxl's
    ``data_only`` reader gives them: the cached result of a formula (never the formula),
    shared and inline strings as text (rich text as its plain text, phonetic hints left out),
    booleans, numbers as int or float, date-formatted numbers as datetimes (timedeltas for
    duration formats), ISO dates. Raises :class:`_TooManyRows` beyond ``max_index`` (row
    number) or ``max_count`` (rows read).

    Why expat's callbacks rather than openpyxl's ``WorkSheetParser``: defusedxml's
    ElementTree parser is the pure-Python one, building an element (and a Python call or
    three) for each of the ~20 XML nodes of a line, then openpyxl a dict per cell: 2 s for
    10,000 lines. Here expat calls back only on the nodes and the text that matter, with the
    protections defusedxml adds (any DTD, entity or external reference is refused), and
    :mod:`mail.safety` has already refused a file declaring them.
    """
    from xml.parsers import expat

    from openpyxl.utils.datetime import from_excel, from_ISO8601

    rows: Rows = []
    text: list[str] = []
    values: list[Any] = []
    row = column = 0
    kind, style, capture, phonetic, present = "n", None, False, False, False

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal row, column, kind, style, capture, phonetic, present, values
        if name == _CELL:
            coordinate = attrs.get("r")
            column = _column_number(coordinate) if coordinate else column + 1
            kind = attrs.get("t", "n")
            style = attrs.get("s")
            text.clear()
            present = False
        elif name == _VALUE or (name == _TEXT and not phonetic):
            capture = present = True
        elif name == _INLINE:
            present = True
        elif name == _PHONETIC:
            phonetic = True
        elif name == _ROW:
            r = attrs.get("r")
            row = int(float(r)) if r else row + 1
            if row > max_index or len(rows) > max_count:
                raise _TooManyRows()
            rows.extend((gap, []) for gap in range(len(rows) + 1, row))
            column, values = 0, []

    def end(name: str) -> None:
        nonlocal capture, phonetic
        if name == _CELL:
            if column <= 40:
                values.extend([None] * (column - len(values)))
                values[column - 1] = _value(kind, "".join(text), present, style)
        elif name in (_VALUE, _TEXT):
            capture = False
        elif name == _PHONETIC:
            phonetic = False
        elif name == _ROW:
            rows.append((row, values))

    def characters(data: str) -> None:
        if capture:
            text.append(data)

    def _value(kind: str, raw: str, present: bool, style: str | None) -> Any:
        if kind == "inlineStr":
            return raw if present else None
        if not raw:
            return None
        if kind == "n":
            value = float(raw) if "." in raw or "E" in raw or "e" in raw else int(raw)
            style_id = int(style or 0)
            if style_id in date_formats:
                try:
                    return from_excel(value, epoch, timedelta=style_id in timedelta_formats)
                except (OverflowError, ValueError):
                    return "#VALUE!"
            return value
        if kind == "s":
            return shared_strings[int(raw)]
        if kind == "b":
            return bool(int(raw))
        if kind == "d":
            return from_ISO8601(raw)
        return raw  # "str" (a formula's text result), "e" (an error such as #N/A)

    parser = expat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    # defusedxml's refusals, with its exceptions (what its parsers raise elsewhere).
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_external
    while chunk := source.read(1 << 16):
        parser.Parse(chunk, False)
    parser.Parse(b"", True)
    return rows


class _TooManyRows(Exception):
    pass


def _rows_from_csv(data: bytes, max_rows: int) -> Rows:
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
    rows: Rows = []
    for index, values in enumerate(csv.reader(io.StringIO(text), delimiter=delimiter), start=1):
        if index > max_rows + 10:
            raise _TooManyRows()
        rows.append((index, values[:40]))
    return rows


def header_key(value: Any) -> str | None:
    """The column a header names (see SYNONYMS), exactly or by a close spelling; else None."""
    norm = _norm_header(value).replace("_", " ")
    if not norm:
        return None
    if norm in _SYNONYM_KEY:
        return _SYNONYM_KEY[norm]
    if len(norm) < 4:
        return None
    close = difflib.get_close_matches(norm, list(_SYNONYM_KEY), n=1, cutoff=FUZZY_CUTOFF)
    return _SYNONYM_KEY[close[0]] if close else None


def _month_header(value: Any, today: dt.date) -> dt.date | None:
    """A header that is itself a month (« janv. 2025 », a date cell): one column per month."""
    if isinstance(value, dt.datetime | dt.date):
        return _month(value, today)
    text = _cell_text(value)
    if not text or not re.search(r"\d{2}", text):
        return None
    try:
        return parse_month(_month_text(text.rstrip(".")), today=today)
    except DomainError:
        return None


@dataclass
class _Header:
    index: int
    columns: dict[str, int]
    month_columns: dict[int, dt.date]


def _find_header(rows: Rows, today: dt.date) -> tuple[_Header | None, dict[str, int]]:
    """The title row among the first ten: a name column and a month (column or headers).
    Also returns the best partial match, to tell the sender what was found."""
    best: dict[str, int] = {}
    for position, (_, values) in enumerate(rows[:10]):
        mapped: dict[str, int] = {}
        months: dict[int, dt.date] = {}
        for col, value in enumerate(values):
            key = header_key(value)
            if key and key not in mapped:
                mapped[key] = col
            elif key is None and (month := _month_header(value, today)) is not None:
                months[col] = month
        has_name = "nom" in mapped or "nom_complet" in mapped
        if has_name and ("mois" in mapped or len(months) >= 1):
            if "mois" in mapped:
                months = {}
            return _Header(position, mapped, months), mapped
        if len(mapped) > len(best):
            best = mapped
    return None, best


def _expected_fr() -> str:
    return ("« nom » et « prénom » (ou une colonne « participant » avec les deux), « mois » "
            "(ou une colonne par mois) et « heures » ; « marché » et « lot » si la personne "
            "travaille sur plusieurs marchés")


def _split_market_lot(text: str) -> tuple[str | None, int | None]:
    """« 2025-017 / lot 2 », « 2025-017 – lot 02 », « Marché 2025-017 lot 2 »."""
    match = re.match(r"^(?:march[ée]\s*(?:n[°o]?\s*)?)?(?P<ref>.+?)\s*(?:[-–—/|,;]\s*)?"
                     r"\blot\s*(?:n[°o]?\s*)?(?P<lot>\d{1,4})\b.*$", text, flags=re.IGNORECASE)
    if match:
        return match.group("ref").strip(" -–—/|,;")[:60] or None, int(match.group("lot"))
    ref = re.sub(r"^march[ée]\s*(?:n[°o]?\s*)?", "", text, flags=re.IGNORECASE).strip()
    return (ref.split()[0][:60] if ref else None), None


def parse_declaration_file(data: bytes, *, kind: str, today: dt.date, max_rows: int = 2000) -> SheetParse:
    """Lines of a declaration file; `kind` is "xlsx" or "csv". Never raises on bad content.

    Rows are numbered as the spreadsheet program shows them (the title row is row 1 when it is
    the first); every sheet with a recognisable title row is read.
    """
    result = SheetParse()
    try:
        sheets = (_rows_from_xlsx(data, max_rows) if kind == "xlsx"
                  else [("", _rows_from_csv(data, max_rows))])
    except _TooManyRows:
        result.fatal = f"Le fichier dépasse {max_rows} lignes : découpez-le en plusieurs envois."
        return result
    except Exception:
        # Logged: a broken file and a broken reader (openpyxl internals moved) look the same
        # to the sender, not to whoever reads the logs.
        log.warning("declaration file unreadable", exc_info=True)
        result.fatal = ("Le fichier n'a pas pu être ouvert comme un tableur (fichier abîmé ou d'un "
                        "autre format). Enregistrez-le en XLSX ou CSV depuis votre tableur, ou "
                        "utilisez le modèle de déclaration joint.")
        return result

    found: list[tuple[str, Rows, _Header]] = []
    partial: dict[str, int] = {}
    for name, rows in sheets:
        if _norm_header(name) in HIRE_SHEETS:
            continue
        header, best = _find_header(rows, today)
        if header is not None:
            found.append((name, rows, header))
        elif len(best) > len(partial):
            partial = best
    if not found:
        if partial:
            seen = ", ".join(f"« {LABEL_FR[k]} »" for k in partial)
            result.fatal = (f"Titres de colonnes incomplets : nous avons reconnu {seen} dans les 10 premières "
                            f"lignes, mais il faut au moins : {_expected_fr()}. Renommez les titres de "
                            "vos colonnes, ou utilisez le modèle joint.")
        else:
            result.fatal = ("Ligne de titres introuvable : aucune des 10 premières lignes ne nomme les "
                            f"colonnes d'une déclaration. Il faut au moins : {_expected_fr()}. Ajoutez "
                            "une ligne de titres au-dessus des données, ou utilisez le modèle joint.")
        return result
    if sum(1 for _, rows, h in found for _, v in rows[h.index + 1:] if any(map(_has_text, v))) > max_rows:
        result.fatal = f"Le fichier dépasse {max_rows} lignes : découpez-le en plusieurs envois."
        return result
    several = len(found) > 1
    for name, rows, header in found:
        missing = [k for k in REQUIRED if k not in header.columns
                   and not (k == "nom" and "nom_complet" in header.columns)
                   and not (k in ("mois", "heures_travail") and header.month_columns)]
        if missing:
            where = f"Onglet « {name} » : " if several else ""
            result.fatal = (where + "colonne(s) " + ", ".join(f"« {LABEL_FR[k]} »" for k in missing)
                            + f" absente(s) de la ligne de titres (ligne {rows[header.index][0]}). "
                            f"Il faut au moins : {_expected_fr()}.")
            return result
        _read_sheet(result, rows, header, name if several else None, today)
    if not result.lines and not result.errors:
        result.fatal = NO_LINES_FR
    return result


def _memo(read: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``read`` with its results and its DomainErrors kept by cell value (and type: 1, 1.0
    and True are equal keys in a dict, not the same cell)."""
    done: dict[tuple[type, Any], Any] = {}

    def cached(value: Any) -> Any:
        key = (type(value), value)
        try:
            outcome = done[key]
        except KeyError:
            try:
                outcome = done[key] = read(value)
            except DomainError as exc:
                outcome = done[key] = exc
        except TypeError:  # an unhashable value: read it each time
            return read(value)
        if isinstance(outcome, DomainError):
            raise outcome
        return outcome

    return cached


def _read_sheet(result: SheetParse, rows: Rows, header: _Header, sheet: str | None,
                today: dt.date) -> None:
    columns = header.columns
    # A file repeats the same few months, lots and hour figures on thousands of lines: each
    # distinct cell value is read once (its result, or its refusal, reused).
    month_of = _memo(lambda value: _month(value, today))
    lot_of = _memo(_lot)
    work_of = _memo(lambda value: _hours(value, "heures de travail", required=True))
    training_of = _memo(lambda value: _hours(value, "heures de formation", required=False))

    def cell(values: list[Any], key: str) -> Any:
        col = columns.get(key)
        return values[col] if col is not None and col < len(values) else None

    for row_number, values in rows[header.index + 1:]:
        if not any(map(_has_text, values)):
            continue
        problems: list[str] = []
        full = "nom" not in columns
        last_name = _cell_text(cell(values, "nom_complet" if full else "nom"))
        first_name = None if full else (_cell_text(cell(values, "prenom")) or None)
        if not last_name:
            problems.append("nom manquant")
        if _TOTAL_ROW.fullmatch(last_name or ""):
            continue  # a totals row, as company files have
        market = _cell_text(cell(values, "marche")) or None
        lot_text = cell(values, "lot")
        lot_from_market: int | None = None
        if "marche_lot" in columns and _cell_text(cell(values, "marche_lot")):
            market, lot_from_market = _split_market_lot(_cell_text(cell(values, "marche_lot")))
        parsed: dict[str, Any] = {}
        try:
            parsed["lot"] = lot_of(lot_text) if lot_text is not None and _cell_text(lot_text) else lot_from_market
        except DomainError as exc:
            problems.append(exc.message_fr.rstrip("."))
        try:
            parsed["training"] = training_of(cell(values, "heures_formation"))
        except DomainError as exc:
            problems.append(exc.message_fr.rstrip("."))
        entries: list[tuple[int | None, dt.date, Decimal]] = []
        if header.month_columns:
            for col, month in header.month_columns.items():
                raw = values[col] if col < len(values) else None
                if raw is None or _cell_text(raw) in ("", "0", "-"):
                    continue
                try:
                    entries.append((col, month, work_of(raw)))
                except DomainError as exc:
                    problems.append(f"{month:%m/%Y} : {exc.message_fr.rstrip('.')}")
            if not entries and not problems:
                continue  # a person with no hours in these months
        else:
            one_month: dt.date | None = None
            one_work: Decimal | None = None
            try:
                one_month = month_of(cell(values, "mois"))
            except DomainError as exc:
                problems.append(exc.message_fr.rstrip("."))
            try:
                one_work = work_of(cell(values, "heures_travail"))
            except DomainError as exc:
                problems.append(exc.message_fr.rstrip("."))
            if one_month is not None and one_work is not None:
                entries.append((None, one_month, one_work))
        if problems:
            result.errors.append(SheetError(row_number, " ; ".join(problems) + ".", sheet))
            continue
        reason = _cell_text(cell(values, "motif_correction")) or None
        for column, month, work in entries:
            result.lines.append(
                SheetLine(
                    row=row_number,
                    market_reference=market[:60] if market else None,
                    lot_number=parsed["lot"],
                    last_name=last_name[:100],
                    first_name=first_name[:100] if first_name else None,
                    month=month,
                    work_hours=work,
                    training_hours=parsed["training"] if column is None or column == entries[0][0] else Decimal(0),
                    correction_reason=reason[:500] if reason else None,
                    sheet=sheet,
                    column=column,
                    full_name=full,
                )
            )
