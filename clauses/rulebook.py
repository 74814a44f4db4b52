"""The rulebook: every territory-dependent value of the clause, as validated data.

Counting rules, eligibility criteria, labour shares, penalty rates and deadlines differ from one
territory (and one buyer) to the next; the public figures quoted in DOMAIN.md are *defaults*.
Keeping them in a TOML file, loaded into frozen pydantic models, lets a facilitator change a rule
without a code change, and lets tests run the same mechanics under several rulebooks.

``load_rulebook("default")`` loads a shipped file from ``clauses/rulebooks/``; any other value
containing a path separator or ending in ``.toml`` is read as a path. A bad file raises
:class:`clauses.errors.RulebookError` whose message lists every problem with its location
(e.g. ``contract_types.cdi.training_share_cap``), so the person editing it can fix all at once.
Every key is documented in ``clauses/rulebooks/README.md``.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from clauses.catalog import EXIT_CATEGORY_KEYS
from clauses.errors import (
    RulebookError,
    UnknownContractTypeError,
    UnknownCriterionError,
    UnknownSituationError,
    UnknownTradeError,
)

RULEBOOK_DIR = Path(__file__).with_name("rulebooks")
"""Where the shipped rulebooks live (``<name>.toml``)."""

KEY_PATTERN = r"^[a-z][a-z0-9_]*$"
Key = Annotated[str, Field(pattern=KEY_PATTERN)]
Share = Annotated[Decimal, Field(ge=0, le=1)]
PositiveShare = Annotated[Decimal, Field(gt=0, le=1)]
PositiveDecimal = Annotated[Decimal, Field(gt=0)]
NonNegativeDecimal = Annotated[Decimal, Field(ge=0)]

_DERIVED_AGE_UNDER = re.compile(r"^age_under_(\d{1,3})$")
_DERIVED_AGE_PLUS = re.compile(r"^age_(\d{1,3})_plus$")
DERIVED_QPV = "qpv_resident"


class _Model(BaseModel):
    """Frozen (safe to cache and share) and strict about unknown keys (typos are errors)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _inject_keys(value: Any) -> Any:
    """Copy each TOML table name into the table as ``key`` so every item knows its own key."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(item, Mapping):
                item = dict(item)
                if "key" in item and item["key"] != key:
                    raise ValueError(f"table [{key}] declares a different key {item['key']!r}")
                item["key"] = key
            out[key] = item
        return out
    return value


def _check_keys(mapping: Any) -> Any:
    if not isinstance(mapping, Mapping):
        return mapping  # pydantic reports the wrong type itself
    for key in mapping:
        if not re.match(KEY_PATTERN, key):
            raise ValueError(f"invalid key {key!r}: use lower-case letters, digits and '_'")
    return mapping


def _keyed_tables(*fields: str) -> Any:
    """Validator for TOML tables of items keyed by name (``[contract_types.cdi]``)."""

    def prepare(cls: type[BaseModel], value: Any) -> Any:
        return _check_keys(_inject_keys(value))

    return field_validator(*fields, mode="before")(prepare)


class RulebookInfo(_Model):
    name: Key
    label_fr: str
    label_en: str = ""
    territory: str = ""
    version: str = ""
    description: str = ""


# --- eligibility -------------------------------------------------------------------------------


class Criterion(_Model):
    """One eligibility criterion of the catalogue (a public that the clause targets)."""

    key: Key
    label_fr: str
    label_en: str
    short_fr: str | None = None
    level: Literal[1, 2] | None = None
    proof_validity_months: int | None = Field(default=None, ge=1, le=240)
    sensitive: Literal["sante", "justice"] | None = None
    derived: str | None = None
    proof_required: bool | None = None

    @field_validator("derived")
    @classmethod
    def _known_derivation(cls, value: str | None) -> str | None:
        if value is None or value == DERIVED_QPV:
            return value
        if _DERIVED_AGE_UNDER.match(value) or _DERIVED_AGE_PLUS.match(value):
            return value
        raise ValueError(
            f"unknown derivation {value!r}: use 'age_under_<N>', 'age_<N>_plus' or 'qpv_resident'"
        )

    @model_validator(mode="after")
    def _proof_or_derivation(self) -> Criterion:
        if self.derived is None and self.proof_required is False:
            raise ValueError("a criterion that is not derived from facts needs a proof")
        return self

    @property
    def short(self) -> str:
        """Short French name used in messages ("RSA", "DELD")."""
        return self.short_fr or self.label_fr

    @property
    def needs_proof(self) -> bool:
        """Whether a facilitator-validated proof is required (default: only when not derived)."""
        if self.proof_required is not None:
            return self.proof_required
        return self.derived is None

    @property
    def age_under(self) -> int | None:
        match = _DERIVED_AGE_UNDER.match(self.derived or "")
        return int(match.group(1)) if match else None

    @property
    def age_at_least(self) -> int | None:
        match = _DERIVED_AGE_PLUS.match(self.derived or "")
        return int(match.group(1)) if match else None


class EligibilityRules(_Model):
    eligibility_months_after_entry: int = Field(default=24, ge=1, le=120)
    diagnosis_validity_months: int = Field(default=6, ge=1, le=60)
    criteria: dict[str, Criterion]

    _keyed = _keyed_tables("criteria")

    @field_validator("criteria")
    @classmethod
    def _not_empty(cls, value: dict[str, Criterion]) -> dict[str, Criterion]:
        if not value:
            raise ValueError("at least one eligibility criterion is required")
        return value


# --- hours and contract types -----------------------------------------------------------------


class HoursRules(_Model):
    monthly_hours_max: PositiveDecimal
    monthly_hours_full_time: PositiveDecimal

    @model_validator(mode="after")
    def _full_time_below_max(self) -> HoursRules:
        if self.monthly_hours_full_time > self.monthly_hours_max:
            raise ValueError("monthly_hours_full_time must not exceed monthly_hours_max")
        return self


class ContractType(_Model):
    """How the hours of one kind of contract count for the clause."""

    key: Key
    label_fr: str
    label_en: str
    work_hours_count: bool
    training_hours_count: bool
    training_share_cap: Share = Decimal(1)
    counted_months_cap: int | None = Field(default=None, ge=1, le=240)
    durable: bool = False
    durable_from_months: int | None = Field(default=None, ge=1, le=120)
    open_ended: bool = False
    """No planned end date (a CDI): a hire of this type is recorded without one."""


# --- chiffrage --------------------------------------------------------------------------------


class Trade(_Model):
    """A corps d'état and the share of its amount that is labour."""

    key: Key
    label_fr: str
    label_en: str = ""
    share: PositiveShare


class ChiffrageRules(_Model):
    default_hourly_cost: PositiveDecimal
    default_insertion_rate: PositiveShare
    rounding: Literal["nearest", "up", "down"] = "nearest"
    trades: dict[str, Trade]

    _keyed = _keyed_tables("trades")


# --- penalties, escalation, progress ---------------------------------------------------------


class PenaltyRules(_Model):
    per_missing_hour: NonNegativeDecimal
    per_day_late: NonNegativeDecimal
    cap_share: Share


class EscalationRules(_Model):
    letter_deadline_days: int = Field(ge=1, le=365)
    contacts_required_before_letter: int = Field(ge=0, le=20)
    written_contacts_required: int = Field(ge=0, le=20)
    buyer_consent_required: bool = True

    @model_validator(mode="after")
    def _written_within_total(self) -> EscalationRules:
        if self.written_contacts_required > self.contacts_required_before_letter:
            raise ValueError(
                "written_contacts_required must not exceed contacts_required_before_letter"
            )
        return self


class ProgressRules(_Model):
    late_tolerance: Share
    at_risk_tolerance: Share

    @model_validator(mode="after")
    def _risk_before_late(self) -> ProgressRules:
        if self.at_risk_tolerance > self.late_tolerance:
            raise ValueError("at_risk_tolerance must not exceed late_tolerance")
        return self


# --- exits ----------------------------------------------------------------------------------------


class Situation(_Model):
    key: Key
    label_fr: str
    label_en: str = ""


class ExitCategory(_Model):
    key: Key
    label_fr: str
    label_en: str = ""
    situations: dict[str, Situation]

    _keyed = _keyed_tables("situations")


class ExitRules(_Model):
    categories: dict[str, ExitCategory]

    _keyed = _keyed_tables("categories")

    @field_validator("categories")
    @classmethod
    def _the_four_categories(cls, value: dict[str, ExitCategory]) -> dict[str, ExitCategory]:
        if set(value) != set(EXIT_CATEGORY_KEYS):
            raise ValueError(
                "exit categories must be exactly "
                + ", ".join(EXIT_CATEGORY_KEYS)
                + " (the bilans report these four)"
            )
        seen: dict[str, str] = {}
        for category in value.values():
            for situation in category.situations:
                if situation in seen:
                    raise ValueError(
                        f"situation {situation!r} appears in {seen[situation]!r} "
                        f"and {category.key!r}"
                    )
                seen[situation] = category.key
        return value


# --- the rulebook --------------------------------------------------------------------------------


class Rulebook(_Model):
    """All the rules of one territory. Build it with :func:`load_rulebook`."""

    rulebook: RulebookInfo
    eligibility: EligibilityRules
    hours: HoursRules
    contract_types: dict[str, ContractType]
    chiffrage: ChiffrageRules
    penalties: PenaltyRules
    escalation: EscalationRules
    progress: ProgressRules
    exits: ExitRules

    _keyed = _keyed_tables("contract_types")

    @field_validator("contract_types")
    @classmethod
    def _some_contract_type(cls, value: dict[str, ContractType]) -> dict[str, ContractType]:
        if not value:
            raise ValueError("at least one contract type is required")
        return value

    @property
    def name(self) -> str:
        return self.rulebook.name

    def criterion(self, key: str) -> Criterion:
        try:
            return self.eligibility.criteria[key]
        except KeyError:
            raise UnknownCriterionError(key, self.eligibility.criteria) from None

    def contract_type(self, key: str) -> ContractType:
        try:
            return self.contract_types[key]
        except KeyError:
            raise UnknownContractTypeError(key, self.contract_types) from None

    def trade(self, key: str) -> Trade:
        try:
            return self.chiffrage.trades[key]
        except KeyError:
            raise UnknownTradeError(key, self.chiffrage.trades) from None

    def exit_category_of(self, situation: str) -> ExitCategory:
        """The exit category (emploi_durable...) a situation key belongs to."""
        for category in self.exits.categories.values():
            if situation in category.situations:
                return category
        valid = [s for c in self.exits.categories.values() for s in c.situations]
        raise UnknownSituationError(situation, valid)

    def exit_category_for_contract(self, contract_type: str, duration_months: int | None) -> str:
        """Exit category of a person leaving for a job under ``contract_type``.

        ``emploi_durable`` when the type is durable by itself (CDI) or lasts at least its
        ``durable_from_months`` (CDD, temp work ≥ 6 months); ``emploi_transition`` otherwise.
        An unknown duration is not assumed long.
        """
        kind = self.contract_type(contract_type)
        long_enough = (
            kind.durable_from_months is not None
            and duration_months is not None
            and duration_months >= kind.durable_from_months
        )
        return "emploi_durable" if kind.durable or long_enough else "emploi_transition"

    def sensitive_criteria(self) -> dict[str, str]:
        """Criterion key -> sensitivity ("sante" / "justice") for the RGPD-restricted ones."""
        return {key: c.sensitive for key, c in self.eligibility.criteria.items() if c.sensitive}


# --- loading -------------------------------------------------------------------------------------


def available_rulebooks() -> list[str]:
    """Names of the shipped rulebooks (files ``clauses/rulebooks/*.toml``)."""
    return sorted(p.stem for p in RULEBOOK_DIR.glob("*.toml"))


def _resolve(name_or_path: str | Path) -> Path:
    if isinstance(name_or_path, Path):
        return name_or_path
    text = str(name_or_path).strip()
    if "/" in text or "\\" in text or text.endswith(".toml"):
        return Path(text)
    if not re.match(KEY_PATTERN, text) or text not in available_rulebooks():
        names = ", ".join(available_rulebooks())
        raise RulebookError(
            f"Règlement inconnu : « {text} ». Règlements fournis : {names} "
            "(ou indiquez le chemin d'un fichier .toml).",
            f"Unknown rulebook {text!r}. Shipped rulebooks: {names} (or give a .toml path).",
            details={"name": text, "available": available_rulebooks()},
        )
    return RULEBOOK_DIR / f"{text}.toml"


def _format_location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(racine)"


def parse_rulebook(text: str, *, source: str = "<texte>") -> Rulebook:
    """Validate a rulebook given as TOML text (``source`` names it in error messages)."""
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise RulebookError(
            f"Règlement {source} : syntaxe TOML invalide ({exc}).",
            f"Rulebook {source}: invalid TOML syntax ({exc}).",
            details={"source": source},
        ) from exc
    try:
        return Rulebook.model_validate(data)
    except ValidationError as exc:
        problems = [f"{_format_location(err['loc'])} : {err['msg']}" for err in exc.errors()]
        raise RulebookError(
            f"Règlement {source} invalide ({len(problems)} problème(s)) :\n- "
            + "\n- ".join(problems),
            f"Invalid rulebook {source} ({len(problems)} problem(s)):\n- " + "\n- ".join(problems),
            details={"source": source, "problems": problems},
        ) from exc


def load_rulebook(name_or_path: str | Path) -> Rulebook:
    """Load and validate a rulebook: a shipped name ("default", "rural") or a .toml path."""
    path = _resolve(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise RulebookError(
            f"Fichier de règlement introuvable : {path}.",
            f"Rulebook file not found: {path}.",
            details={"path": str(path)},
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise RulebookError(
            f"Fichier de règlement illisible : {path} ({exc}).",
            f"Cannot read rulebook file {path} ({exc}).",
            details={"path": str(path)},
        ) from exc
    return parse_rulebook(text, source=str(path))


@functools.lru_cache(maxsize=8)
def shipped_rulebook(name: str = "default") -> Rulebook:
    """A shipped rulebook, loaded once (the models are frozen, so sharing is safe)."""
    return load_rulebook(name)
