"""Text written to a spreadsheet we produce must never become a formula.

A donneur, a market title or a company imported from a CSV may begin with ``=``, ``+``, ``-``
or ``@``; a spreadsheet application evaluates such a cell (openpyxl even stores a string starting
with ``=`` as a formula), so a bilan e-mailed to buyers would carry live formulas (CSV/formula
injection, OWASP). A leading tab or carriage return hides the same payload from a quick look.
The one rule: such text gets a leading apostrophe, the usual « this is text » mark, and stays
readable. Every XLSX writer calls :func:`formula_safe` for every text cell.
"""

from __future__ import annotations

DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(text: str) -> str:
    """``text`` as inert text for a spreadsheet cell (unchanged unless it could be read as a
    formula)."""
    if text.startswith(DANGEROUS_PREFIXES):
        return "'" + text
    return text
