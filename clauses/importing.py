"""Import of a territory from one CSV file: donneurs, markets, lots, companies, engagements.

Why one flat file: facilitators keep their tracking grid in a spreadsheet; one line per
engagement (donneur, market, lot, company) is what they already have, and "Enregistrer sous >
CSV UTF-8" is the only export every office suite does the same way. The columns are listed in
:data:`COLUMNS` and documented for users in ``examples/README.md``.

Rules (the user documentation repeats them):

* **All or nothing.** Every line is validated first and *every* bad line is reported with its
  number and the reason; if any line is bad nothing is written. ``dry_run`` validates and counts
  what would change, then rolls back.
* **Idempotent.** Rows are matched by natural keys (donneur name, market reference, market + lot
  number, SIRET, lot + company, company + contact e-mail) and updated in place, so importing the
  same file twice changes nothing the second time.
* **An empty cell never changes existing data.** Only a filled cell sets or updates a value.
  Lines about the same market, lot or company may repeat its values or leave them empty, but
  may not contradict an earlier line.
* **Donneurs are created only on purpose**: a line creates a donneur when it fills
  ``type_donneur``; any other donneur named in the file must already be in the database or be
  created by a line of the file. A typo in a donneur's name is therefore reported, not turned
  into a second buyer.
* ``heures_insertion`` left empty is computed by the chiffrage (:mod:`clauses.chiffrage`) when
  the line gives ``montant_lot_ht`` and ``corps_etat``; a new lot of a market that owes hours
  needs one or the other. ``heures_engagement`` left empty means the lot's hours.

The module is pure domain: it takes bytes and a session and returns a result; the CLI prints it.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from clauses.errors import DomainError
from clauses.siret import InvalidSiretError, normalize_siret
from storage.models import (
    Company,
    CompanyKind,
    Contact,
    ContactKind,
    Donneur,
    DonneurKind,
    Engagement,
    EngagementMeans,
    Lot,
    Market,
    MarketKind,
    Role,
    User,
)

# --- the file format -----------------------------------------------------------------------------

COLUMNS: dict[str, str] = {
    "donneur": "Nom du donneur d'ordre (ex. Ville d'Oullins).",
    "type_donneur": "ville, metropole, bailleur_social, etat ou autre. Rempli : crée le donneur "
                    "s'il n'existe pas.",
    "marche_ref": "Référence du marché, unique (ex. 2025-017).",
    "marche_intitule": "Intitulé du marché.",
    "type_marche": "clause_execution, critere_attribution, marche_reserve ou marche_insertion.",
    "procedure": "Procédure de passation (ex. MAPA, appel d'offres ouvert).",
    "montant_marche_ht": "Montant du marché en euros HT (ex. 1 250 000,00).",
    "date_notification": "Date de notification (JJ/MM/AAAA ou AAAA-MM-JJ).",
    "date_debut": "Début d'exécution.",
    "date_fin": "Fin d'exécution (pas avant le début).",
    "facilitateur": "E-mail d'un·e facilitateur·rice existant·e, chargé·e du marché.",
    "lot_numero": "Numéro du lot (entier, 1 pour un lot unique).",
    "lot_intitule": "Intitulé du lot.",
    "corps_etat": "Corps d'état du règlement (ex. maconnerie, peinture_interieure).",
    "montant_lot_ht": "Montant du lot en euros HT.",
    "heures_insertion": "Heures d'insertion dues sur le lot ; vide : calculées par le chiffrage.",
    "entreprise": "Raison sociale de l'entreprise titulaire.",
    "siret": "SIRET de l'entreprise (14 chiffres, espaces acceptés).",
    "type_entreprise": "ordinaire, EI, ETTI, AI, ACI, GEIQ ou EA.",
    "email_entreprise": "E-mail du contact de l'entreprise (reconnaît ses envois de courriels).",
    "contact_entreprise": "Nom du contact de l'entreprise.",
    "heures_engagement": "Heures dues par l'entreprise sur le lot ; vide : les heures du lot.",
    "moyen": "embauche_directe, etti, ai, geiq ou sous_traitance_siae.",
}
"""Every accepted column, in the template's order, with its French description."""

MAX_AMOUNT = Decimal("999999999999.99")  # Numeric(14, 2)
MAX_HOURS = Decimal("99999999.99")  # Numeric(10, 2)
_LENGTHS = {"donneur": 200, "marche_ref": 60, "marche_intitule": 300, "procedure": 60,
            "lot_intitule": 300, "corps_etat": 60, "entreprise": 200, "email_entreprise": 254,
            "contact_entreprise": 200}
_EMAIL = re.compile(r"^[^@\s;,<>]+@[^@\s;,<>]+\.[^@\s;,<>]+$")

HOUR_OWING_KINDS = frozenset({MarketKind.CLAUSE_EXECUTION, MarketKind.CRITERE_ATTRIBUTION})
"""Markets whose holders owe a number of insertion hours (the others may have 0)."""

RESAVE_HINT = (
    "Dans Excel : Fichier > Enregistrer sous > « CSV UTF-8 (délimité par des virgules) ». "
    "Dans LibreOffice : Enregistrer sous > CSV, jeu de caractères « Unicode (UTF-8) »."
)


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


@dataclass
class CsvTable:
    """A decoded CSV: its columns and its non-empty rows with their line numbers."""

    columns: list[str]
    rows: list[tuple[int, dict[str, str]]]
    delimiter: str
    errors: list[LineError] = field(default_factory=list)


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


# --- reading the file ---------------------------------------------------------------------------


def _fold(text: str) -> str:
    """Lower case, no accents, unified quotes and spaces: the matching form of names and keys."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.replace("\u2019", "'").replace("\u00a0", " ").replace("\u202f", " ")
    return re.sub(r"\s+", " ", text).strip().lower()


def _column_key(header: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", _fold(header)).strip("_")


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
    if lines and _fold(lines[0]).startswith("sep=") and len(lines[0].strip()) == 5:
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
    keys = [_column_key(c) for c in cells]
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


# --- parsing single values ----------------------------------------------------------------------


class ValueProblem(ValueError):
    """A cell's value cannot be used; the message is French and says what to write instead."""


_NUMBER_UNITS = re.compile(r"(€|eur|euros?|ht|ttc|h|heures?)$")
_THOUSANDS_DOTS = re.compile(r"^\d{1,3}(\.\d{3})+$")


def parse_number(text: str, *, what: str = "nombre", max_value: Decimal = MAX_AMOUNT,
                 unit: str = "") -> Decimal:
    """A non-negative Decimal with at most two decimals, from French or plain text.

    Accepts "1 000 000,50", "1000000.50", "1.000.000,50", "833 h", "25 000 €" (spaces, no-break
    spaces, units). Refuses negatives, more than two decimals and "1.500" (1 500 or 1,5?).
    """
    cleaned = _fold(text)
    while True:
        stripped = _NUMBER_UNITS.sub("", cleaned).strip()
        if stripped == cleaned:
            break
        cleaned = stripped
    cleaned = cleaned.replace(" ", "").replace("'", "")
    sign = ""
    if cleaned[:1] in "+-" and cleaned:
        sign, cleaned = cleaned[0], cleaned[1:]
    if "," in cleaned and "." in cleaned:
        if cleaned.rfind(",") > cleaned.rfind("."):
            cleaned = cleaned.replace(".", "")
        else:
            cleaned = cleaned.replace(",", "")
    elif cleaned.count(".") > 1 and _THOUSANDS_DOTS.match(cleaned):
        cleaned = cleaned.replace(".", "")
    elif re.fullmatch(r"\d{1,3}\.\d{3}", cleaned):
        raise ValueProblem(
            f"{what} ambigu « {text} » : écrivez « {cleaned.replace('.', ' ')} » ou "
            f"« {cleaned.replace('.', ',')} »."
        )
    cleaned = cleaned.replace(",", ".")
    if not re.fullmatch(r"\d+(\.\d+)?", cleaned):
        raise ValueProblem(f"{what} illisible « {text} » (exemple : 1 250 000,50{unit}).")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueProblem(f"{what} illisible « {text} ».") from None
    if sign == "-" and value != 0:
        raise ValueProblem(f"{what} négatif « {text} » : une valeur positive ou nulle est attendue.")
    if -value.as_tuple().exponent > 2:  # type: ignore[operator]
        raise ValueProblem(f"{what} « {text} » : deux décimales au plus.")
    if value > max_value:
        raise ValueProblem(f"{what} trop grand « {text} ».")
    return value


def parse_amount(text: str) -> Decimal:
    """Euros HT from French text ("1 000 000,50", "25 000 €")."""
    return parse_number(text, what="Montant", max_value=MAX_AMOUNT, unit=" €")


def parse_hours_value(text: str) -> Decimal:
    """A number of hours from French text ("833", "1 200,5 h")."""
    return parse_number(text, what="Nombre d'heures", max_value=MAX_HOURS, unit=" h")


_DATE_FR = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_DATE_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]00:00(?::00)?)?$")


def parse_date(text: str) -> dt.date:
    """A date written JJ/MM/AAAA (French) or AAAA-MM-JJ (ISO, as some exports write it)."""
    raw = text.strip()
    match = _DATE_FR.match(raw)
    if match:
        day, month, year = (int(g) for g in match.groups())
    else:
        match = _DATE_ISO.match(raw)
        if not match:
            raise ValueProblem(f"date illisible « {text} » : écrivez JJ/MM/AAAA (ex. 15/01/2025).")
        year, month, day = (int(g) for g in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise ValueProblem(f"date inexistante « {text} ».") from None


def _parse_choice(text: str, enum_cls: Any, what: str) -> Any:
    key = re.sub(r"[\s\-']+", "_", _fold(text))
    for member in enum_cls:
        if member.value.lower() == key:
            return member
    valid = ", ".join(m.value for m in enum_cls)
    raise ValueProblem(f"{what} inconnu « {text} ». Valeurs possibles : {valid}.")


def parse_market_kind(text: str) -> MarketKind:
    return _parse_choice(text, MarketKind, "type de marché")


def parse_company_kind(text: str) -> CompanyKind:
    return _parse_choice(text, CompanyKind, "type d'entreprise")


def parse_donneur_kind(text: str) -> DonneurKind:
    return _parse_choice(text, DonneurKind, "type de donneur")


def parse_means(text: str) -> EngagementMeans:
    return _parse_choice(text, EngagementMeans, "moyen")


def parse_lot_number(text: str) -> int:
    raw = text.strip()
    if not re.fullmatch(r"\d{1,4}", raw) or int(raw) < 1:
        raise ValueProblem(f"numéro de lot « {text} » : un entier à partir de 1 est attendu.")
    return int(raw)


def parse_trade(text: str, rulebook: Any | None) -> str:
    """A corps d'état key of the rulebook, from its key or its French label ("Maçonnerie")."""
    key = re.sub(r"[^a-z0-9]+", "_", _fold(text)).strip("_")
    if rulebook is None:
        if not key:
            raise ValueProblem(f"corps d'état illisible « {text} ».")
        return key
    trades = rulebook.chiffrage.trades
    if key in trades:
        return key
    for trade in trades.values():
        if _fold(trade.label_fr) == _fold(text):
            return trade.key
    raise ValueProblem(
        f"corps d'état inconnu « {text} ». Valeurs possibles : {', '.join(sorted(trades))}."
    )


def parse_email(text: str) -> str:
    value = text.strip().lower()
    if not _EMAIL.match(value):
        raise ValueProblem(f"adresse e-mail invalide « {text} ».")
    return value


# --- validation ------------------------------------------------------------------------------


class _Invalid:
    """Marks a value whose cell was refused, so no second error is raised about it."""

    def __repr__(self) -> str:
        return "<invalid>"


INVALID: Any = _Invalid()


@dataclass
class _Entity:
    """An entity described by one or more lines: merged values and where each came from."""

    key: Any
    first_line: int | None
    values: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int | None] = field(default_factory=dict)
    seen_on: list[int | None] = field(default_factory=list)

    def get(self, name: str) -> Any:
        value = self.values.get(name)
        return None if value is INVALID else value

    def has(self, name: str) -> bool:
        """Given on some line (even if refused there)."""
        return name in self.values


def _display(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, Decimal):
        return f"{value:f}".replace(".", ",")
    return str(getattr(value, "value", value))


# Entity attribute -> (CSV column, parser): the merge reports conflicts by column name.
_MARKET_COLUMNS: dict[str, tuple[str, Any]] = {
    "title": ("marche_intitule", None),
    "kind": ("type_marche", parse_market_kind),
    "procedure": ("procedure", None),
    "amount_ht": ("montant_marche_ht", parse_amount),
    "notified_on": ("date_notification", parse_date),
    "start_date": ("date_debut", parse_date),
    "end_date": ("date_fin", parse_date),
    "facilitator": ("facilitateur", parse_email),
}
_LOT_COLUMNS: dict[str, tuple[str, Any]] = {
    "label": ("lot_intitule", None),
    "trade": ("corps_etat", None),  # parsed against the rulebook by the validator
    "amount_ht": ("montant_lot_ht", parse_amount),
    "hours_owed": ("heures_insertion", parse_hours_value),
}
_COMPANY_COLUMNS: dict[str, tuple[str, Any]] = {
    "name": ("entreprise", None),
    "kind": ("type_entreprise", parse_company_kind),
    "email": ("email_entreprise", parse_email),
    "contact_name": ("contact_entreprise", None),
}
_ENGAGEMENT_COLUMNS: dict[str, tuple[str, Any]] = {
    "hours_owed": ("heures_engagement", parse_hours_value),
    "means": ("moyen", parse_means),
}


class _Validator:
    """Turns rows into merged entities, collecting every problem with its line."""

    def __init__(self, session: Session, rulebook: Any | None) -> None:
        self.session = session
        self.rulebook = rulebook
        self.errors: list[LineError] = []
        self.warnings: list[str] = []
        self.donneurs: dict[str, _Entity] = {}
        self.markets: dict[str, _Entity] = {}
        self.lots: dict[tuple[str, int], _Entity] = {}
        self.companies: dict[str, _Entity] = {}
        self.engagements: dict[tuple[str, int, str], _Entity] = {}

    def error(self, line: int | None, column: str | None, message: str) -> None:
        self.errors.append(LineError(line, column, message))

    # -- per line ------------------------------------------------------------------------------

    def _cell(self, row: Mapping[str, str], line: int | None, column: str,
              parser: Any = None) -> Any:
        """Parsed value of a cell; None when empty; INVALID (and an error) when refused."""
        raw = (row.get(column) or "").strip()
        if not raw:
            return None
        limit = _LENGTHS.get(column)
        if limit is not None and len(raw) > limit:
            self.error(line, column, f"texte trop long ({len(raw)} caractères, {limit} au plus).")
            return INVALID
        if parser is None:
            return re.sub(r"\s+", " ", raw)
        try:
            return parser(raw)
        except ValueProblem as exc:
            self.error(line, column, str(exc))
        except InvalidSiretError as exc:
            self.error(line, column, exc.message_fr)
        return INVALID

    def _merge(self, entity: _Entity, line: int | None, values: dict[str, Any],
               what: str, columns: Mapping[str, tuple[str, Any]]) -> None:
        for name, value in values.items():
            if value is None:
                continue
            if value is INVALID:
                entity.values.setdefault(name, INVALID)
                continue
            previous = entity.values.get(name)
            if previous is None or previous is INVALID:
                entity.values[name] = value
                entity.lines[name] = line
            elif previous != value:
                earlier = entity.lines.get(name)
                self.error(line, columns[name][0],
                           f"« {_display(value)} » contredit « {_display(previous)} » donné "
                           f"ligne {earlier} pour {what}.")

    def _values(self, row: Mapping[str, str], line: int | None,
                columns: Mapping[str, tuple[str, Any]]) -> dict[str, Any]:
        return {attr: self._cell(row, line, column, parser)
                for attr, (column, parser) in columns.items()}

    def add_row(self, line: int | None, row: Mapping[str, str]) -> None:
        trade_parser = lambda text: parse_trade(text, self.rulebook)  # noqa: E731
        donneur = self._cell(row, line, "donneur")
        donneur_kind = self._cell(row, line, "type_donneur", parse_donneur_kind)
        ref = self._cell(row, line, "marche_ref")
        market_values = self._values(row, line, _MARKET_COLUMNS)
        lot_number = self._cell(row, line, "lot_numero", parse_lot_number)
        lot_values = self._values(row, line, {**_LOT_COLUMNS,
                                              "trade": ("corps_etat", trade_parser)})
        siret = self._cell(row, line, "siret", normalize_siret)
        company_values = self._values(row, line, _COMPANY_COLUMNS)
        engagement_values = self._values(row, line, _ENGAGEMENT_COLUMNS)

        has_market_data = any(v is not None for v in market_values.values())
        has_lot_data = lot_number is not None or any(v is not None for v in lot_values.values())
        has_company_data = any(v is not None for v in company_values.values())
        has_engagement_data = any(v is not None for v in engagement_values.values())

        if ref is None and (has_market_data or has_lot_data):
            self.error(line, "marche_ref", "référence du marché manquante : les colonnes du "
                       "marché et du lot s'appliquent à un marché désigné par marche_ref.")
        if siret is None and (has_company_data or has_engagement_data):
            self.error(line, "siret", "SIRET manquant : une entreprise est désignée par son "
                       "SIRET (14 chiffres).")
        if ref is not None and lot_number is None and has_lot_data:
            self.error(line, "lot_numero", "numéro de lot manquant pour les colonnes du lot.")
        if siret is not None and ref is not None and lot_number is None:
            self.error(line, "lot_numero", "numéro de lot manquant : un engagement lie une "
                       "entreprise à un lot (1 pour un lot unique).")
        if donneur is None and (ref is not None or donneur_kind is not None):
            self.error(line, "donneur", "donneur d'ordre manquant.")
        if (donneur is None and ref is None and siret is None
                and any((v or "").strip() for v in row.values())):
            self.error(line, None, "ligne sans donneur, marché ni SIRET : rien à importer.")

        if isinstance(donneur, str):
            entity = self.donneurs.setdefault(_fold(donneur), _Entity(_fold(donneur), line))
            entity.values.setdefault("name", donneur)  # spelled as on its first line
            entity.seen_on.append(line)
            self._merge(entity, line, {"kind": donneur_kind}, f"le donneur « {donneur} »",
                        {"kind": ("type_donneur", None)})
        if isinstance(ref, str):
            entity = self.markets.setdefault(ref, _Entity(ref, line))
            donneur_key = _fold(donneur) if isinstance(donneur, str) else donneur
            self._merge(entity, line, {"donneur": donneur_key, **market_values},
                        f"le marché {ref}", {"donneur": ("donneur", None), **_MARKET_COLUMNS})
            if isinstance(lot_number, int):
                lot = self.lots.setdefault((ref, lot_number), _Entity((ref, lot_number), line))
                self._merge(lot, line, lot_values, f"le lot {lot_number} du marché {ref}",
                            _LOT_COLUMNS)
        if isinstance(siret, str):
            company = self.companies.setdefault(siret, _Entity(siret, line))
            self._merge(company, line, company_values, f"l'entreprise {siret}",
                        _COMPANY_COLUMNS)
            if isinstance(ref, str) and isinstance(lot_number, int):
                key = (ref, lot_number, siret)
                eng = self.engagements.setdefault(key, _Entity(key, line))
                self._merge(eng, line, engagement_values,
                            f"l'engagement de {siret} sur le lot {lot_number} du marché {ref}",
                            _ENGAGEMENT_COLUMNS)
            if isinstance(ref, str) and isinstance(market_values["facilitator"], str):
                company.values.setdefault("market_facilitator", market_values["facilitator"])

    # -- against the database ----------------------------------------------------------------

    def resolve(self) -> _Plan:
        s = self.session
        db_donneurs = {_fold(d.name): d for d in s.scalars(select(Donneur))}
        db_markets = {m.reference: m for m in s.scalars(
            select(Market).where(Market.reference.in_(list(self.markets))))} if self.markets else {}
        market_ids = [m.id for m in db_markets.values()]
        db_lots = {(lt.market.reference, lt.number): lt for lt in s.scalars(
            select(Lot).join(Market).where(Lot.market_id.in_(market_ids)))} if market_ids else {}
        db_companies = {c.siret: c for c in s.scalars(
            select(Company).where(Company.siret.in_(list(self.companies))))} \
            if self.companies else {}
        facilitators = {(u.email or "").lower(): u for u in s.scalars(
            select(User).where(User.role == Role.FACILITATEUR))}

        plan = _Plan()
        for key, ent in self.donneurs.items():
            existing = db_donneurs.get(key)
            if existing is None and ent.get("kind") is None and not ent.has("kind"):
                continue  # unknown: reported just below, on every line naming it
            plan.donneurs[key] = (ent, existing)
        for key, ent in self.donneurs.items():
            if key in plan.donneurs:
                continue
            for line in ent.seen_on:  # every line naming it is wrong, so every one is listed
                self.error(line, "donneur",
                           f"donneur d'ordre inconnu « {ent.get('name')} » : il n'existe pas en "
                           "base et aucune ligne du fichier ne le crée (remplissez type_donneur "
                           "pour le créer, ou corrigez le nom).")

        for ref, ent in self.markets.items():
            existing = db_markets.get(ref)
            self._check_market(ref, ent, existing, db_donneurs, facilitators)
            plan.markets[ref] = (ent, existing)

        for (ref, number), ent in self.lots.items():
            existing = db_lots.get((ref, number))
            market_ent, market_row = plan.markets[ref]
            kind = market_ent.get("kind") or (market_row.kind if market_row else None)
            self._check_lot(ref, number, ent, existing, kind)
            plan.lots[(ref, number)] = (ent, existing)

        for siret, ent in self.companies.items():
            existing = db_companies.get(siret)
            if existing is None and not ent.has("name"):
                self.error(ent.first_line, "entreprise",
                           f"entreprise {siret} inconnue : sa raison sociale est requise pour "
                           "la créer.")
            fac = ent.values.pop("market_facilitator", None)
            if fac is not None and fac in facilitators and (
                    existing is None or existing.facilitator_id is None):
                ent.values["facilitator_id"] = facilitators[fac].id
            plan.companies[siret] = (ent, existing)

        for key, ent in self.engagements.items():
            plan.engagements[key] = (ent, None)
        self._check_lot_totals(plan)
        return plan

    def _check_market(self, ref: str, ent: _Entity, existing: Market | None,
                      db_donneurs: dict[str, Donneur], facilitators: dict[str, User]) -> None:
        donneur_key = ent.get("donneur")
        if (existing is not None and donneur_key is not None
                and _fold(existing.donneur.name) != donneur_key):
            self.error(ent.lines.get("donneur", ent.first_line), "donneur",
                       f"le marché {ref} existe déjà pour « {existing.donneur.name} » : "
                       "un import ne change pas le donneur d'un marché.")
        if existing is None:
            missing = [col for col, name in (("marche_intitule", "title"),
                                              ("type_marche", "kind"),
                                              ("date_debut", "start_date"),
                                              ("date_fin", "end_date"))
                       if not ent.has(name)]
            if missing:
                self.error(ent.first_line, missing[0],
                           f"nouveau marché {ref} : colonne(s) requise(s) vide(s) : "
                           + ", ".join(missing) + ".")
        start = ent.get("start_date") or (existing.start_date if existing else None)
        end = ent.get("end_date") or (existing.end_date if existing else None)
        if start is not None and end is not None and end < start:
            line = ent.lines.get("end_date", ent.lines.get("start_date", ent.first_line))
            self.error(line, "date_fin",
                       f"la fin ({_display(end)}) est avant le début ({_display(start)}) "
                       f"du marché {ref}.")
        fac = ent.get("facilitator")
        if fac is not None:
            if fac not in facilitators:
                self.error(ent.lines.get("facilitator"), "facilitateur",
                           f"aucun·e facilitateur·rice avec l'e-mail « {fac} » (créez-le ou "
                           "la avec « clausebot facilitateur create »).")
            else:
                ent.values["facilitator_id"] = facilitators[fac].id

    def _check_lot(self, ref: str, number: int, ent: _Entity, existing: Lot | None,
                   kind: MarketKind | None) -> None:
        trade = ent.get("trade")
        if (existing is None and not ent.has("label") and trade is not None
                and self.rulebook is not None and trade in self.rulebook.chiffrage.trades):
            label = self.rulebook.chiffrage.trades[trade].label_fr
            ent.values["label"] = label[:1].upper() + label[1:]
        if ent.get("hours_owed") is not None or ent.has("hours_owed"):
            ent.values["hours_source"] = "fichier"
            return
        amount, trade = ent.get("amount_ht"), ent.get("trade")
        if ent.has("amount_ht") and ent.has("trade") and (amount is None or trade is None):
            return  # a refused amount or trade was already reported
        if amount is not None and trade is not None and self.rulebook is not None:
            from clauses.chiffrage import compute_lot_hours

            try:
                result = compute_lot_hours(amount, rulebook=self.rulebook, trade=trade)
            except DomainError as exc:
                self.error(ent.lines.get("amount_ht"), "heures_insertion", exc.message_fr)
                return
            ent.values["hours_owed"] = Decimal(result.hours)
            ent.values["hours_source"] = "chiffrage"
            ent.values["explanation"] = result.explanation_fr
            return
        if existing is not None:
            return
        if kind in HOUR_OWING_KINDS:
            self.error(ent.first_line, "heures_insertion",
                       f"lot {number} du marché {ref} : indiquez les heures d'insertion dues, "
                       "ou le montant HT et le corps d'état du lot pour les calculer.")
        else:
            ent.values["hours_owed"] = Decimal(0)

    def _check_lot_totals(self, plan: _Plan) -> None:
        """Warn (not refuse) when a lot's engagements exceed its hours: a typo, or an avenant."""
        totals: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
        for (ref, number, _siret), (ent, _) in plan.engagements.items():
            lot_ent, lot_row = plan.lots.get((ref, number), (None, None))
            lot_hours = _lot_hours(lot_ent, lot_row)
            hours = ent.get("hours_owed")
            totals[(ref, number)] += hours if hours is not None else (lot_hours or Decimal(0))
        for (ref, number), total in sorted(totals.items()):
            lot_ent, lot_row = plan.lots.get((ref, number), (None, None))
            lot_hours = _lot_hours(lot_ent, lot_row)
            if lot_hours is not None and total > lot_hours:
                self.warnings.append(
                    f"Lot {number} du marché {ref} : les engagements du fichier totalisent "
                    f"{_display(total)} h pour {_display(lot_hours)} h dues sur le lot.")


def _lot_hours(ent: _Entity | None, row: Lot | None) -> Decimal | None:
    if ent is not None and ent.get("hours_owed") is not None:
        return ent.get("hours_owed")
    return row.hours_owed if row is not None else None


@dataclass
class _Plan:
    donneurs: dict[str, tuple[_Entity, Donneur | None]] = field(default_factory=dict)
    markets: dict[str, tuple[_Entity, Market | None]] = field(default_factory=dict)
    lots: dict[tuple[str, int], tuple[_Entity, Lot | None]] = field(default_factory=dict)
    companies: dict[str, tuple[_Entity, Company | None]] = field(default_factory=dict)
    engagements: dict[tuple[str, int, str], tuple[_Entity, None]] = field(default_factory=dict)


# --- writing ---------------------------------------------------------------------------------


class _Writer:
    """Upserts the validated plan, counting created / updated / unchanged rows."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.counts: dict[str, dict[str, int]] = {
            name: {"créés": 0, "modifiés": 0, "inchangés": 0} for name in ENTITY_LABELS
        }

    def _tally(self, entity: str, outcome: str) -> None:
        self.counts[entity][outcome] += 1

    def _update(self, entity: str, row: Any, values: Mapping[str, Any]) -> None:
        changed = False
        for attr, value in values.items():
            if value is None:
                continue  # an empty cell never changes existing data
            if getattr(row, attr) != value:
                setattr(row, attr, value)
                changed = True
        self._tally(entity, "modifiés" if changed else "inchangés")

    def write(self, plan: _Plan) -> None:
        s = self.session
        donneurs: dict[str, Donneur] = {}
        for key, (ent, row) in plan.donneurs.items():
            if row is None:
                row = Donneur(name=ent.get("name"), kind=ent.get("kind") or DonneurKind.VILLE)
                s.add(row)
                self._tally("donneurs", "créés")
            else:
                self._update("donneurs", row, {"kind": ent.get("kind")})
            donneurs[key] = row
        s.flush()

        markets: dict[str, Market] = {}
        for ref, (ent, row) in plan.markets.items():
            values = {name: ent.get(name) for name in (
                "title", "kind", "procedure", "amount_ht", "notified_on", "start_date",
                "end_date", "facilitator_id")}
            if row is None:
                donneur = donneurs[ent.get("donneur")]
                row = Market(reference=ref, donneur_id=donneur.id,
                             **{k: v for k, v in values.items() if v is not None})
                s.add(row)
                self._tally("marches", "créés")
            else:
                self._update("marches", row, values)
            markets[ref] = row
        s.flush()

        lots: dict[tuple[str, int], Lot] = {}
        for (ref, number), (ent, row) in plan.lots.items():
            values = {name: ent.get(name) for name in ("label", "trade", "amount_ht",
                                                       "hours_owed")}
            if row is None:
                row = Lot(market_id=markets[ref].id, number=number,
                          label=values.pop("label") or f"Lot {number}",
                          **{k: v for k, v in values.items() if v is not None})
                s.add(row)
                self._tally("lots", "créés")
            else:
                self._update("lots", row, values)
            lots[(ref, number)] = row
        s.flush()

        companies: dict[str, Company] = {}
        for siret, (ent, row) in plan.companies.items():
            values = {"name": ent.get("name"), "kind": ent.get("kind"),
                      "facilitator_id": ent.get("facilitator_id")}
            if row is None:
                row = Company(siret=siret, **{k: v for k, v in values.items() if v is not None})
                s.add(row)
                self._tally("entreprises", "créés")
            else:
                self._update("entreprises", row, values)
            companies[siret] = row
        s.flush()
        self._write_contacts(plan, companies)
        self._write_engagements(plan, lots, companies)
        s.flush()

    def _write_contacts(self, plan: _Plan, companies: dict[str, Company]) -> None:
        wanted = {(companies[siret].id, ent.get("email")): (ent, companies[siret])
                  for siret, (ent, _) in plan.companies.items() if ent.get("email")}
        if not wanted:
            return
        existing = {(c.company_id, (c.email or "").lower()): c for c in self.session.scalars(
            select(Contact).where(Contact.company_id.in_({k[0] for k in wanted})))}
        for key, (ent, company) in wanted.items():
            contact = existing.get(key)
            if contact is None:
                self.session.add(Contact(
                    kind=ContactKind.ENTREPRISE, company_id=company.id,
                    name=ent.get("contact_name") or company.name, email=key[1]))
                self._tally("contacts", "créés")
            else:
                self._update("contacts", contact, {"name": ent.get("contact_name")})

    def _write_engagements(self, plan: _Plan, lots: dict[tuple[str, int], Lot],
                           companies: dict[str, Company]) -> None:
        if not plan.engagements:
            return
        lot_ids = {lt.id for lt in lots.values()}
        existing = {(e.lot_id, e.company_id): e for e in self.session.scalars(
            select(Engagement).where(Engagement.lot_id.in_(lot_ids)))}
        for (ref, number, siret), (ent, _) in plan.engagements.items():
            lot, company = lots[(ref, number)], companies[siret]
            row = existing.get((lot.id, company.id))
            if row is None:
                hours = ent.get("hours_owed")
                self.session.add(Engagement(
                    lot_id=lot.id, company_id=company.id,
                    hours_owed=hours if hours is not None else lot.hours_owed,
                    means=ent.get("means") or EngagementMeans.EMBAUCHE_DIRECTE))
                self._tally("engagements", "créés")
            else:
                self._update("engagements", row, {"hours_owed": ent.get("hours_owed"),
                                                  "means": ent.get("means")})


# --- entry points ----------------------------------------------------------------------------


def import_rows(session: Session, rows: Iterable[tuple[int | None, Mapping[str, str]]], *,
                rulebook: Any | None = None, dry_run: bool = False) -> ImportResult:
    """Validate rows (column -> text) and, if every one is valid, write them.

    Nothing is written when any row is refused, nor when ``dry_run`` is set (the writing is then
    done in a SAVEPOINT and rolled back, so the counts are exactly what a real import would do).
    The caller owns the transaction and commits it.
    """
    rows = list(rows)
    validator = _Validator(session, rulebook)
    for line, row in rows:
        validator.add_row(line, row)
    plan = validator.resolve()
    result = ImportResult(lines=len(rows), warnings=validator.warnings, dry_run=dry_run)
    if validator.errors:
        result.errors = sorted(set(validator.errors),
                               key=lambda e: (e.line or 0, e.column or "", e.message))
        return result
    writer = _Writer(session)
    if dry_run:
        savepoint = session.begin_nested()
        try:
            writer.write(plan)
        finally:
            savepoint.rollback()
    else:
        writer.write(plan)
    result.counts = writer.counts
    return result


def import_csv(session: Session, data: bytes, *, rulebook: Any | None = None,
               dry_run: bool = False) -> ImportResult:
    """Import a CSV file's bytes (see the module docstring for the rules).

    Raises :class:`ImportFileError` when the file cannot be read at all; line problems are in
    ``ImportResult.errors`` and then nothing is written.
    """
    table = read_csv(data)
    if table.errors:
        # Still validate the readable lines, so the user gets every problem in one pass.
        result = import_rows(session, table.rows, rulebook=rulebook, dry_run=True)
        result.errors = sorted(set(result.errors) | set(table.errors),
                               key=lambda e: (e.line or 0, e.column or "", e.message))
        result.counts = {}
        result.dry_run = dry_run
        return result
    return import_rows(session, table.rows, rulebook=rulebook, dry_run=dry_run)


def template_header(delimiter: str = ";") -> str:
    """The header line of the import template, in :data:`COLUMNS` order."""
    return delimiter.join(COLUMNS)
