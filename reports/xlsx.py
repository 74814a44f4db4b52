"""The bilan as a spreadsheet: one sheet per table, real numbers with number formats.

Numbers are stored as numbers (hours as decimals, shares as fractions) with a format, so that the
donneur can sum, sort and chart them; Excel and LibreOffice display the formats with the reader's
locale separators ("12 345,50 h" in French). Masked small cells are the text "< 3".
"""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from clauses.bilan.figures import BilanFigures
from clauses.spreadsheet_safety import formula_safe
from reports.view import Cell, Fmt, ReportView, Table, from_view

NUMBER_FORMATS: dict[Fmt, str] = {
    Fmt.HOURS: '#,##0.00" h"',
    Fmt.INT: "#,##0",
    Fmt.PCT: "0.0%",
    Fmt.DATE: "DD/MM/YYYY",
    Fmt.MONTH: "MM/YYYY",
}
HEADER_FILL = PatternFill("solid", fgColor="EEF3F8")
BOLD = Font(bold=True)
TITLE = Font(bold=True, size=13, color="1F4E79")
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def sheet_name(key: str, taken: set[str]) -> str:
    """A valid, unique sheet name (≤ 31 characters, none of []:*?/\\)."""
    base = _BAD_SHEET_CHARS.sub("-", key).strip("'")[:31] or "Feuille"
    name, n = base, 2
    while name.lower() in taken:
        suffix = f" ({n})"
        name = base[: 31 - len(suffix)] + suffix
        n += 1
    taken.add(name.lower())
    return name


def _write(ws: Worksheet, row: int, col: int, cell: Cell) -> None:
    target = ws.cell(row=row, column=col)
    if cell.masked:
        target.value = formula_safe(str(cell.masked_text))
        target.alignment = Alignment(horizontal="right")
    elif cell.value is None:
        target.value = None
    elif cell.fmt in (Fmt.HOURS, Fmt.PCT):
        target.value = float(cell.value)  # type: ignore[arg-type]
    elif cell.fmt is Fmt.INT:
        target.value = int(cell.value)  # type: ignore[arg-type]
    elif cell.fmt in (Fmt.DATE, Fmt.MONTH):
        value = cell.value
        target.value = value if isinstance(value, dt.date) else str(value)
    else:
        target.value = ("  " if cell.indent else "") + formula_safe(str(cell.value))
    if cell.fmt in NUMBER_FORMATS and not cell.masked:
        target.number_format = NUMBER_FORMATS[cell.fmt]
    if cell.bold:
        target.font = BOLD


def _put(ws: Worksheet, row: int, col: int, text: str | None) -> Any:
    """Write a text cell (never a formula, see :func:`formula_safe`) and return it."""
    target = ws.cell(row=row, column=col)
    target.value = None if text is None else formula_safe(text)
    return target


def _widths(ws: Worksheet, table: Table) -> None:
    for i, col in enumerate(table.columns, start=1):
        texts = [col.label] + [r[i - 1].text for r in table.rows] + (
            [table.total[i - 1].text] if table.total else [])
        ws.column_dimensions[get_column_letter(i)].width = min(max(len(t) for t in texts) + 3, 60)


def _table_sheet(wb: Workbook, table: Table, taken: set[str], heading: str) -> None:
    ws = wb.create_sheet(sheet_name(table.key, taken))
    _put(ws, 1, 1, table.title).font = TITLE
    _put(ws, 2, 1, heading)
    header_row = 4
    for i, col in enumerate(table.columns, start=1):
        c = _put(ws, header_row, i, col.label)
        c.font = BOLD
        c.fill = HEADER_FILL
        c.alignment = Alignment(wrap_text=True, vertical="top",
                                horizontal="right" if col.fmt in (Fmt.HOURS, Fmt.INT, Fmt.PCT)
                                else "left")
    row = header_row
    for row_cells in table.rows:
        row += 1
        for i, cell in enumerate(row_cells, start=1):
            _write(ws, row, i, cell)
    if table.rows:
        ws.auto_filter.ref = (
            f"A{header_row}:{get_column_letter(len(table.columns))}{row}")
    if table.total:
        row += 1
        for i, cell in enumerate(table.total, start=1):
            _write(ws, row, i, cell)
            ws.cell(row=row, column=i).font = BOLD
    if table.note:
        _put(ws, row + 2, 1, table.note).font = Font(italic=True)
    ws.freeze_panes = ws.cell(row=header_row + 1, column=2)
    _widths(ws, table)
    if table.rows and table.key in CHARTS:
        _chart(ws, table, header_row, header_row + len(table.rows))


CHARTS: dict[str, tuple[str, tuple[int, ...]]] = {
    "Heures par mois": ("col", (2,)),
    "Entreprises": ("bar", (3, 5)),
    "Lots": ("bar", (4, 6)),
    "Âge": ("col", (2,)),
    "Genre": ("col", (2,)),
    "QPV": ("col", (2,)),
    "Statut à l'entrée": ("bar", (2,)),
    "Types de contrat": ("bar", (2,)),
}
"""Sheets that get a native chart: (direction, value columns). Masked small cells are text
(« < 3 »), which a chart leaves out, so a chart never shows what the table hides."""


def _chart(ws: Worksheet, table: Table, header_row: int, last_row: int) -> None:
    """A native Excel/LibreOffice bar chart of the sheet's own cells (it follows edits)."""
    direction, columns = CHARTS[table.key]
    chart = BarChart()
    chart.type = direction
    chart.title = table.title
    chart.style = 10
    chart.height = max(7.5, min(0.6 * (last_row - header_row) + 3, 20))
    chart.width = 18
    for col in columns:
        data = Reference(ws, min_col=col, min_row=header_row, max_row=last_row)
        chart.add_data(data, titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=header_row + 1, max_row=last_row))
    if len(columns) == 1:
        chart.legend = None
    anchor_col = get_column_letter(len(table.columns) + 2)
    ws.add_chart(chart, f"{anchor_col}{header_row}")


@from_view
def render_xlsx(figures: BilanFigures, view: ReportView) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "Synthèse"
    taken = {"synthèse"}
    row = 1
    shown = view.agency
    if shown is not None:
        _put(ws, row, 1, shown.name).font = BOLD
        row += 1
        for line in shown.address_lines:
            _put(ws, row, 1, line)
            row += 1
        row += 1
    _put(ws, row, 1, view.title).font = TITLE
    _put(ws, row + 1, 1, view.subtitle).font = BOLD
    row += 2
    for line in view.context_lines:
        _put(ws, row, 1, line)
        row += 1
    row += 1
    _put(ws, row, 1, "Indicateur").font = BOLD
    _put(ws, row, 2, "Valeur").font = BOLD
    for c in (ws.cell(row=row, column=1), ws.cell(row=row, column=2)):
        c.fill = HEADER_FILL
    for label, cell in view.key_figures:
        row += 1
        _put(ws, row, 1, ("  " if cell.indent else "") + label)
        _write(ws, row, 2, cell)
    row += 1
    if view.synthesis or view.synthesis_expected:
        row += 1
        _put(ws, row, 1, "Synthèse annuelle du partenariat").font = BOLD
        for note in view.synthesis:
            row += 1
            _put(ws, row, 1, f"{note.date_text} — {note.body}").alignment = Alignment(
                wrap_text=True, vertical="top")
        if not view.synthesis:
            row += 1
            _put(ws, row, 1, "Synthèse non rédigée pour cette période.")
        row += 1
    if shown is not None and shown.signature:
        row += 1
        _put(ws, row, 1, shown.signature)
        row += 1
    for line in view.footer:
        row += 1
        _put(ws, row, 1, line).font = Font(italic=True, color="555F6B")
    ws.column_dimensions["A"].width = 62
    ws.column_dimensions["B"].width = 18
    heading = f"{view.subtitle} — " + " ; ".join(
        line for line in view.context_lines if line.startswith(("Période", "Chiffres")))
    for table in view.tables:
        _table_sheet(wb, table, taken, heading)
    if view.notes:
        ws_notes = wb.create_sheet(sheet_name("Notes", taken))
        for i, header in enumerate(("Date", "Sujet", "Note"), start=1):
            c = _put(ws_notes, 1, i, header)
            c.font = BOLD
            c.fill = HEADER_FILL
        for r, note in enumerate(view.notes, start=2):
            ws_notes.cell(row=r, column=1, value=note.written_on).number_format = (
                NUMBER_FORMATS[Fmt.DATE])
            _put(ws_notes, r, 2, note.about)
            body = _put(ws_notes, r, 3, note.body)
            body.alignment = Alignment(wrap_text=True, vertical="top")
        ws_notes.column_dimensions["A"].width = 12
        ws_notes.column_dimensions["B"].width = 36
        ws_notes.column_dimensions["C"].width = 90
    wb.properties.title = view.subject
    wb.properties.creator = shown.name if shown is not None else "clausebot"  # as printed
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
