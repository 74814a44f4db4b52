"""Plain-text alternative of the bilan e-mail (read on phones and by text-only clients).

Narrow tables (up to three columns) become "label : value" lines; wider ones become one block per
row, so nothing depends on a fixed-width font.
"""

from __future__ import annotations

from reports.view import ReportView, Table

WIDE = 3


def _table_lines(table: Table) -> list[str]:
    lines = [table.title, "-" * min(len(table.title), 60)]
    if not table.rows:
        lines.append("Aucune donnée sur la période.")
        return lines
    rows = table.rows + ([table.total] if table.total else [])
    if len(table.columns) <= WIDE:
        for row in rows:
            indent = "  " if row[0].indent else ""
            values = " · ".join(c.text for c in row[1:] if c.text and c.text != "–")
            lines.append(f"{indent}{row[0].text} : {values}")
    else:
        for row in rows:
            lines.append(f"* {row[0].text}")
            for col, c in zip(table.columns[1:], row[1:], strict=True):
                if c.text:
                    lines.append(f"    {col.label} : {c.text}")
    if table.note:
        lines.append(f"({table.note})")
    return lines


def render_text(view: ReportView) -> str:
    out = []
    if view.agency:
        out += [view.agency.name, *view.agency.address_lines, ""]
    out += [view.title, view.subtitle, *view.context_lines]
    if view.audience == "interne":
        out.append("Document interne : ne pas diffuser hors de l’agence.")
    out += ["", "Chiffres clés", "-------------"]
    for label, c in view.key_figures:
        out.append(f"{'  ' if c.indent else ''}{label} : {c.text}")
    for table in view.tables:
        out += ["", *_table_lines(table)]
    if view.synthesis or view.synthesis_expected:
        out += ["", "Synthèse annuelle du partenariat", "--------------------------------"]
        for note in view.synthesis:
            out += [note.date_text, note.body, ""]
        if not view.synthesis:
            out.append("Synthèse non rédigée pour cette période.")
    if view.notes:
        out += ["", "Notes qualitatives", "------------------"]
        for note in view.notes:
            out += [f"{note.date_text} — {note.about}", note.body, ""]
    if view.agency and view.agency.signature:
        out += ["", view.agency.signature]
    out += ["", "--", *view.footer]
    return "\n".join(out).rstrip() + "\n"
