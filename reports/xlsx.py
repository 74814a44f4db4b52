"""The bilan as a spreadsheet: one sheet per table, real numbers with number formats.

Numbers are stored as numbers (hours as decimals, shares as fractions) with a format, so that the
donneur can sum, sort and chart them; Excel and LibreOffice display the formats with the reader's
locale separators ("12 345,50 h" in French). Masked small cells are the text "< 3".
"""

from __future__ import annotations

import datetime as dt
import io
import re

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from clauses.bilan.figures import BilanFigures
from clauses.context import AgencyIdentity
from reports.view import Cell, Fmt, Table, build_view

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
        target.value = cell.masked_text
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
        target.value = ("  " if cell.indent else "") + str(cell.value)
    if cell.fmt in NUMBER_FORMATS and not cell.masked:
        target.number_format = NUMBER_FORMATS[cell.fmt]
    if cell.bold:
        target.font = BOLD


def _widths(ws: Worksheet, table: Table) -> None:
    for i, col in enumerate(table.columns, start=1):
        texts = [col.label] + [r[i - 1].text for r in table.rows] + (
            [table.total[i - 1].text] if table.total else [])
        ws.column_dimensions[get_column_letter(i)].width = min(max(len(t) for t in texts) + 3, 60)


def _table_sheet(wb: Workbook, table: Table, taken: set[str], heading: str) -> None:
    ws = wb.create_sheet(sheet_name(table.key, taken))
    ws["A1"] = table.title
    ws["A1"].font = TITLE
    ws["A2"] = heading
    header_row = 4
    for i, col in enumerate(table.columns, start=1):
        c = ws.cell(row=header_row, column=i, value=col.label)
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
        ws.cell(row=row + 2, column=1, value=table.note).font = Font(italic=True)
    ws.freeze_panes = ws.cell(row=header_row + 1, column=2)
    _widths(ws, table)


def render_xlsx(
    figures: BilanFigures,
    audience: str = "externe",
    *,
    small_cell_threshold: int = 3,
    agency_name: str | None = None,
    generated_on: dt.date | None = None,
    agency: AgencyIdentity | None = None,
) -> bytes:
    view = build_view(figures, audience, small_cell_threshold=small_cell_threshold,
                      agency_name=agency_name, generated_on=generated_on, agency=agency)
    wb = Workbook()
    ws = wb.active
    ws.title = "Synthèse"
    taken = {"synthèse"}
    ws["A1"] = view.title
    ws["A1"].font = TITLE
    ws["A2"] = view.subtitle
    ws["A2"].font = BOLD
    row = 3
    for line in view.context_lines:
        ws.cell(row=row, column=1, value=line)
        row += 1
    row += 1
    ws.cell(row=row, column=1, value="Indicateur").font = BOLD
    ws.cell(row=row, column=2, value="Valeur").font = BOLD
    for c in (ws.cell(row=row, column=1), ws.cell(row=row, column=2)):
        c.fill = HEADER_FILL
    for label, cell in view.key_figures:
        row += 1
        ws.cell(row=row, column=1, value=("  " if cell.indent else "") + label)
        _write(ws, row, 2, cell)
    row += 1
    for line in view.footer:
        row += 1
        ws.cell(row=row, column=1, value=line).font = Font(italic=True, color="555F6B")
    ws.column_dimensions["A"].width = 62
    ws.column_dimensions["B"].width = 18
    heading = f"{view.subtitle} — {view.context_lines[-1] if view.context_lines else ''}"
    for table in view.tables:
        _table_sheet(wb, table, taken, heading)
    if view.notes:
        ws_notes = wb.create_sheet(sheet_name("Notes", taken))
        for i, header in enumerate(("Date", "Sujet", "Note"), start=1):
            c = ws_notes.cell(row=1, column=i, value=header)
            c.font = BOLD
            c.fill = HEADER_FILL
        for r, note in enumerate(view.notes, start=2):
            ws_notes.cell(row=r, column=1, value=note.written_on).number_format = (
                NUMBER_FORMATS[Fmt.DATE])
            ws_notes.cell(row=r, column=2, value=note.about)
            body = ws_notes.cell(row=r, column=3, value=note.body)
            body.alignment = Alignment(wrap_text=True, vertical="top")
        ws_notes.column_dimensions["A"].width = 12
        ws_notes.column_dimensions["B"].width = 36
        ws_notes.column_dimensions["C"].width = 90
    wb.properties.title = view.subject
    wb.properties.creator = agency_name or "clausebot"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
