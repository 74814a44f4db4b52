"""What an import reports: the file-level error, the per-line errors and the result counts.

The CLI prints these; they carry French text only, so the domain never formats for a terminal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from clauses.errors import DomainError


class ImportFileError(DomainError):
    """The file as a whole cannot be read (encoding, format, header): nothing was imported."""

    code = "import_file_invalid"


@dataclass(frozen=True, order=True)
class LineError:
    """One reason why one line is refused. ``line`` is the line number in the file (the header
    is line 1); ``None`` when the values did not come from a file (a CLI command)."""

    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"Ligne {self.line}" if self.line is not None else "Erreur"
        col = f" [{self.column}]" if self.column else ""
        return f"{where}{col} : {self.message}"


def sorted_errors(errors: Iterable[LineError]) -> list[LineError]:
    """Each distinct error once, in file order (errors without a line first)."""
    return sorted(set(errors), key=lambda e: (e.line or 0, e.column or "", e.message))


ENTITY_LABELS = {
    "donneurs": "donneurs d'ordre",
    "marches": "marchés",
    "lots": "lots",
    "entreprises": "entreprises",
    "contacts": "contacts",
    "engagements": "engagements",
}


@dataclass
class ImportResult:
    """What an import did (or would do): counts per entity, or the reasons it was refused."""

    lines: int
    errors: list[LineError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def written(self) -> bool:
        return self.ok and not self.dry_run

    def count(self, entity: str, outcome: str) -> int:
        return self.counts.get(entity, {}).get(outcome, 0)
