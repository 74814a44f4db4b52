"""Reading the import file: encoding, delimiter, header, and one dict per non-empty line.

Why so strict about the encoding: spreadsheets save CSV in UTF-16 or windows-1252 depending on
the menu used, and a silently mis-decoded name would create a second company or donneur. Every
refusal says how to save the file again (:data:`RESAVE_HINT`).
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field

from clauses.formatting import fold
from clauses.importing.columns import COLUMNS
from clauses.importing.results import ImportFileError, LineError
from clauses.importing.values import to_key

RESAVE_HINT = (
    "Dans Excel : Fichier > Enregistrer sous > « CSV UTF-8 (délimité par des virgules) ». "
    "Dans LibreOffice : Enregistrer sous > CSV, jeu de caractères « Unicode (UTF-8) »."
)


@dataclass
class CsvTable:
    """A decoded CSV: its columns and its non-empty rows with their line numbers."""

    columns: list[str]
    rows: list[tuple[int, dict[str, str]]]
    delimiter: str
    errors: list[LineError] = field(default_factory=list)


def _decode(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFileError(
            "Le fichier est encodé en UTF-16 (« Texte Unicode »), pas en UTF-8. " + RESAVE_HINT,
            "File is UTF-16, not UTF-8.",
        )
    if data.startswith(b"PK\x03\x04"):
        raise ImportFileError(
            "Ce fichier est un classeur (XLSX/ODS), pas un CSV. " + RESAVE_HINT,
            "File is a spreadsheet archive, not CSV.",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        byte = data[exc.start : exc.start + 1].hex().upper()
        try:
            sample = data[exc.start : exc.start + 1].decode("cp1252")
            guess = f" (probablement « {sample} » en windows-1252, l'encodage par défaut d'Excel)"
        except UnicodeDecodeError:
            guess = ""
        raise ImportFileError(
            f"Le fichier n'est pas encodé en UTF-8 : octet 0x{byte} illisible à la ligne {line}"
            f"{guess}. Rien n'a été importé. Enregistrez-le à nouveau en CSV UTF-8. "
            + RESAVE_HINT,
            f"File is not UTF-8: byte 0x{byte} at line {line}.",
            details={"line": line, "byte": byte},
        ) from None
    if "\x00" in text:
        raise ImportFileError(
            "Le fichier contient des caractères nuls : ce n'est pas un CSV texte. " + RESAVE_HINT,
            "File contains NUL characters.",
        )
    return text


def read_csv(data: bytes) -> CsvTable:
    """Decode and split a CSV export: UTF-8 (BOM or not), ``;`` or ``,`` (detected).

    Raises :class:`ImportFileError` when the file as a whole is unusable; problems of single
    lines (too many cells) are returned in ``CsvTable.errors`` so they are reported with the
    others.
    """
    text = _decode(data)
    lines = text.splitlines()
    first_line_no = 1
    delimiter: str | None = None
    if lines and fold(lines[0]).startswith("sep=") and len(lines[0].strip()) == 5:
        delimiter = lines[0].strip()[4]  # Excel's "sep=;" hint line
        text = text.split("\n", 1)[1] if "\n" in text else ""
        first_line_no = 2
    header_line = next((ln for ln in text.splitlines() if ln.strip()), "")
    if not header_line:
        raise ImportFileError("Le fichier est vide : aucune ligne d'en-tête.", "Empty file.")
    if delimiter is None:
        delimiter = ";" if header_line.count(";") >= header_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    rows: list[tuple[int, dict[str, str]]] = []
    errors: list[LineError] = []
    previous_end = 0
    try:
        for cells in reader:
            line_no = previous_end + first_line_no
            previous_end = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = _check_header(cells, delimiter)
                continue
            if len(cells) > len(header) and any(c.strip() for c in cells[len(header):]):
                errors.append(LineError(
                    line_no, None,
                    f"{len(cells)} valeurs pour {len(header)} colonnes : un « {delimiter} » en "
                    "trop ou des guillemets mal fermés ?"))
                continue
            cells = cells + [""] * (len(header) - len(cells))
            rows.append((line_no, {col: cells[i].strip() for i, col in enumerate(header)}))
    except csv.Error as exc:
        raise ImportFileError(
            f"Fichier CSV mal formé vers la ligne {reader.line_num} ({exc}).",
            f"Malformed CSV near line {reader.line_num}: {exc}",
        ) from None
    assert header is not None
    return CsvTable(columns=header, rows=rows, delimiter=delimiter, errors=errors)


def _check_header(cells: list[str], delimiter: str) -> list[str]:
    keys = [to_key(c) for c in cells]
    while keys and not keys[-1]:
        keys.pop()
    unknown = [cells[i].strip() or f"(colonne {i + 1} sans nom)"
               for i, k in enumerate(keys) if k not in COLUMNS]
    if unknown:
        hint = ""
        if len(keys) == 1 and ("," in cells[0] or ";" in cells[0] or "\t" in cells[0]):
            hint = " Le séparateur n'a pas été reconnu : utilisez « ; » ou « , »."
        raise ImportFileError(
            "Colonne(s) inconnue(s) dans l'en-tête : " + ", ".join(f"« {u} »" for u in unknown)
            + ". Colonnes possibles : " + ", ".join(COLUMNS) + "." + hint,
            "Unknown column(s): " + ", ".join(unknown),
            details={"unknown": unknown},
        )
    duplicated = sorted({k for k in keys if keys.count(k) > 1})
    if duplicated:
        raise ImportFileError(
            "Colonne(s) en double dans l'en-tête : " + ", ".join(duplicated) + ".",
            "Duplicated column(s): " + ", ".join(duplicated),
        )
    if "donneur" not in keys and "siret" not in keys:
        raise ImportFileError(
            "L'en-tête doit contenir au moins la colonne « donneur » ou la colonne « siret ». "
            "Modèle : examples/modele_import.csv.",
            "Header lacks both 'donneur' and 'siret'.",
        )
    return keys
