"""The product's hour-declaration spreadsheet: the template companies fill in (XLSX and CSV).

Why a fixed template: a spreadsheet can be validated line by line only if its columns are
known. The same column list drives the generator, the parser (:mod:`mail.spreadsheet`) and the
instructions, so they cannot drift apart. Headers are matched loosely (accents, case, spaces),
because people retype them.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    required: bool
    help_fr: str
    example: str
    width: int = 16


COLUMNS: tuple[Column, ...] = (
    Column("marche", "marche", False, "Référence du marché (ex. 2025-017)", "2025-017", 14),
    Column("lot", "lot", False, "Numéro du lot (ex. 2)", "2", 6),
    Column("nom", "nom", True, "Nom de la personne en insertion", "DUPONT", 20),
    Column("prenom", "prenom", False, "Prénom de la personne", "Marie", 16),
    Column("mois", "mois", True, "Mois travaillé au format MM/AAAA (ex. 05/2025)", "05/2025", 10),
    Column("heures_travail", "heures_travail", True, "Heures de travail du mois (ex. 151,67)",
           "151,67", 16),
    Column("heures_formation", "heures_formation", False, "Heures de formation du mois (0 si aucune)",
           "0", 18),
    Column("motif_correction", "motif_correction", False,
           "À remplir seulement pour corriger un mois déjà déclaré", "", 30),
)

SHEET_TITLE = "Déclaration"
HELP_TITLE = "Mode d'emploi"
CSV_DELIMITER = ";"

INSTRUCTIONS_FR: tuple[str, ...] = (
    "Déclaration mensuelle des heures d'insertion",
    "",
    "1. Remplissez une ligne par personne et par mois dans l'onglet « Déclaration ».",
    "2. Ne modifiez pas la première ligne (les titres des colonnes).",
    "3. Le mois s'écrit MM/AAAA (par exemple 05/2025).",
    "4. Les heures s'écrivent en nombre décimal (151,67) ; 12h30 est aussi accepté.",
    "5. Marché et lot sont nécessaires si la personne travaille sur plusieurs marchés.",
    "6. Pour corriger un mois déjà déclaré, indiquez le motif dans « motif_correction ».",
    "7. Envoyez le fichier (XLSX ou CSV) en pièce jointe à l'adresse de l'agence : "
    "chaque ligne est vérifiée et vous recevez un accusé de réception détaillé.",
    "",
    "Colonnes :",
)


def build_xlsx() -> bytes:
    """The template as an XLSX workbook: an empty data sheet and an instructions sheet."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = SHEET_TITLE
    ws.append([c.header for c in COLUMNS])
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    for index, column in enumerate(COLUMNS, start=1):
        cell = ws.cell(row=1, column=index)
        cell.font = bold
        cell.fill = fill
        letter = get_column_letter(index)
        ws.column_dimensions[letter].width = column.width
        if column.key in ("mois", "marche"):
            # Text, so that "05/2025" is not turned into a date by the spreadsheet program.
            for row in range(2, 502):
                ws.cell(row=row, column=index).number_format = "@"
    ws.freeze_panes = "A2"

    help_ws = wb.create_sheet(HELP_TITLE)
    for line in INSTRUCTIONS_FR:
        help_ws.append([line])
    for column in COLUMNS:
        flag = "obligatoire" if column.required else "facultatif"
        help_ws.append([f"  {column.header} ({flag}) : {column.help_fr}"])
    help_ws.append([""])
    help_ws.append(["Exemple de ligne :"])
    help_ws.append([c.header for c in COLUMNS])
    help_ws.append([c.example for c in COLUMNS])
    from mail import hire_sheet  # the optional « Embauches » sheet, read before the hours

    hire_sheet.add_to_template(wb)
    help_ws.append([""])
    for line in hire_sheet.help_lines():
        help_ws.append([line])
    help_ws.column_dimensions["A"].width = 100
    help_ws["A1"].font = Font(bold=True, size=14)

    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def build_csv() -> bytes:
    """The template as CSV: `;`-separated with a UTF-8 BOM, as French spreadsheet programs expect."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=CSV_DELIMITER, lineterminator="\r\n")
    writer.writerow([c.header for c in COLUMNS])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
