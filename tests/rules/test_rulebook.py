"""The rulebook is data: shipped files load, bad files are refused with every problem named."""

from __future__ import annotations

import re
import typing
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel

from clauses.catalog import EXIT_CATEGORY_KEYS
from clauses.errors import (
    RulebookError,
    UnknownContractTypeError,
    UnknownCriterionError,
    UnknownSituationError,
    UnknownTradeError,
)
from clauses.rulebook import (
    RULEBOOK_DIR,
    Rulebook,
    available_rulebooks,
    load_rulebook,
    parse_rulebook,
    shipped_rulebook,
)

DEFAULT_TEXT = (RULEBOOK_DIR / "default.toml").read_text(encoding="utf-8")


def test_shipped_rulebooks_are_listed_and_load() -> None:
    names = available_rulebooks()
    assert {"default", "rural"} <= set(names)
    for name in names:
        rulebook = load_rulebook(name)
        assert rulebook.name == name
        assert rulebook.eligibility.criteria and rulebook.contract_types


def test_load_by_path_equals_load_by_name() -> None:
    assert load_rulebook(RULEBOOK_DIR / "rural.toml") == load_rulebook("rural")
    assert load_rulebook(str(RULEBOOK_DIR / "default.toml")) == load_rulebook("default")


def test_default_values_are_the_public_examples() -> None:
    rb = load_rulebook("default")
    assert rb.chiffrage.default_hourly_cost == Decimal(30)
    assert rb.chiffrage.default_insertion_rate == Decimal("0.05")
    assert rb.chiffrage.rounding == "nearest"
    assert rb.trade("peinture_interieure").share == Decimal("0.70")
    assert rb.trade("maconnerie").share == Decimal("0.50")
    assert rb.trade("charpente_metallique").share == Decimal("0.20")
    assert len(rb.chiffrage.trades) >= 15
    for key in (
        "vrd",
        "plomberie",
        "electricite",
        "menuiserie_interieure",
        "nettoyage",
        "espaces_verts",
    ):
        assert key in rb.chiffrage.trades
    assert (rb.penalties.per_missing_hour, rb.penalties.per_day_late, rb.penalties.cap_share) == (
        Decimal(60),
        Decimal(100),
        Decimal("0.20"),
    )
    assert rb.escalation.letter_deadline_days == 15
    assert rb.escalation.contacts_required_before_letter == 2
    assert rb.escalation.written_contacts_required == 1
    assert rb.eligibility.eligibility_months_after_entry == 24
    assert rb.eligibility.diagnosis_validity_months == 6
    assert rb.progress.late_tolerance == Decimal("0.15")
    assert rb.hours.monthly_hours_full_time == Decimal("151.67")
    assert rb.hours.monthly_hours_max == Decimal(208)


def test_default_catalogue_covers_the_seed_publics() -> None:
    criteria = load_rulebook("default").eligibility.criteria
    expected = {
        "deld",
        "rsa",
        "ass",
        "aah",
        "jeune_sans_qualification",
        "ier",
        "senior",
        "rqth",
        "spip",
        "salarie_siae",
        "salarie_geiq",
        "qpv",
        "avis_prescripteur",
    }
    assert expected <= set(criteria)
    assert criteria["rqth"].sensitive == "sante"
    assert criteria["spip"].sensitive == "justice"
    assert criteria["jeune_sans_qualification"].age_under == 26
    assert criteria["jeune_sans_qualification"].needs_proof is True
    assert criteria["senior"].age_at_least == 50
    assert criteria["senior"].needs_proof is False
    assert criteria["qpv"].derived == "qpv_resident"
    assert criteria["rsa"].level == 1 and criteria["deld"].level == 2
    assert all(c.label_fr and c.label_en for c in criteria.values())


def test_default_contract_types() -> None:
    types = load_rulebook("default").contract_types
    assert set(types) == {
        "cdi",
        "cdd",
        "interim",
        "cddi",
        "apprentissage",
        "professionnalisation",
        "mad_ai",
        "mad_geiq",
        "pec",
        "formation",
    }
    assert types["cdi"].counted_months_cap == 12 and types["cdi"].durable
    assert types["cdd"].durable_from_months == 6 and not types["cdd"].durable
    assert types["formation"].work_hours_count is False


def test_rural_rulebook_differs_visibly() -> None:
    default, rural = load_rulebook("default"), load_rulebook("rural")
    assert not any(c.training_hours_count for c in rural.contract_types.values())
    assert rural.contract_type("cdi").counted_months_cap == 6
    assert rural.chiffrage.default_insertion_rate == Decimal("0.07")
    assert rural.chiffrage.default_hourly_cost == Decimal(25)
    assert rural.escalation.letter_deadline_days == 8
    assert rural.progress.late_tolerance == Decimal("0.10")
    assert "zrr" in rural.eligibility.criteria and "zrr" not in default.eligibility.criteria
    assert rural.model_dump() != default.model_dump()


def test_lookups_raise_typed_errors_listing_valid_keys() -> None:
    rb = load_rulebook("default")
    with pytest.raises(UnknownTradeError) as err:
        rb.trade("plongee")
    assert "maconnerie" in err.value.message_fr and "plongee" in err.value.message_fr
    assert "maconnerie" in err.value.valid
    with pytest.raises(UnknownContractTypeError) as err2:
        rb.contract_type("freelance")
    assert "cdi" in err2.value.message_fr
    with pytest.raises(UnknownCriterionError):
        rb.criterion("astronaute")
    with pytest.raises(UnknownSituationError):
        rb.exit_category_of("lune")
    assert rb.exit_category_of("cdi").key == "emploi_durable"
    assert rb.exit_category_of("formation_qualifiante").key == "sortie_positive"
    assert rb.sensitive_criteria() == {"rqth": "sante", "spip": "justice"}


@pytest.mark.parametrize(
    ("kind", "months", "category"),
    [
        ("cdi", None, "emploi_durable"),
        ("cdd", 6, "emploi_durable"),
        ("interim", 7, "emploi_durable"),
        ("cdd", 5, "emploi_transition"),
        ("cdd", None, "emploi_transition"),
        ("pec", 24, "emploi_transition"),
    ],
)
def test_exit_category_for_a_contract(kind: str, months: int | None, category: str) -> None:
    rb = load_rulebook("default")
    assert rb.exit_category_for_contract(kind, months) == category
    assert category in rb.exits.categories


def test_unknown_name_lists_the_shipped_rulebooks() -> None:
    with pytest.raises(RulebookError) as err:
        load_rulebook("atlantide")
    assert "default" in err.value.message_fr and "rural" in err.value.message_fr


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RulebookError) as err:
        load_rulebook(tmp_path / "absent.toml")
    assert "introuvable" in err.value.message_fr


def test_toml_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(DEFAULT_TEXT.replace("[hours]", "[hours", 1), encoding="utf-8")
    with pytest.raises(RulebookError) as err:
        load_rulebook(path)
    assert "syntaxe TOML" in err.value.message_fr


@pytest.mark.parametrize(
    ("old", "new", "location"),
    [
        (
            "training_share_cap = 0.30\ncounted_months_cap = 12",
            "training_share_cap = 1.5\ncounted_months_cap = 12",
            "contract_types.cdi.training_share_cap",
        ),
        ("default_hourly_cost = 30", "default_hourly_cost = 0", "chiffrage.default_hourly_cost"),
        ("late_tolerance = 0.15", "late_tolerence = 0.15", "progress.late_tolerence"),
        ('derived = "age_50_plus"', 'derived = "age_fifty"', "eligibility.criteria.senior.derived"),
        ("monthly_hours_full_time = 151.67", "monthly_hours_full_time = 300", "hours"),
        ('sensitive = "sante"', 'sensitive = "medical"', "eligibility.criteria.rqth.sensitive"),
        ('rounding = "nearest"', 'rounding = "bankers"', "chiffrage.rounding"),
        ("at_risk_tolerance = 0.05", "at_risk_tolerance = 0.50", "progress"),
        ("written_contacts_required = 1", "written_contacts_required = 5", "escalation"),
        ("[exits.categories.autre]\n", "[exits.categories.divers]\n", "exits.categories"),
        ("[contract_types.pec]", "[contract_types.PEC]", "contract_types"),
    ],
)
def test_invalid_value_is_refused_with_its_location(old: str, new: str, location: str) -> None:
    assert old in DEFAULT_TEXT
    text = DEFAULT_TEXT.replace(old, new, 1)
    if "[exits.categories.divers]" in text:
        text = text.replace("[exits.categories.autre.", "[exits.categories.divers.")
    with pytest.raises(RulebookError) as err:
        parse_rulebook(text, source="essai.toml")
    assert location in err.value.message_fr
    assert "essai.toml" in err.value.message_fr
    assert err.value.details["problems"]


def test_all_problems_are_reported_at_once() -> None:
    text = DEFAULT_TEXT.replace("default_hourly_cost = 30", "default_hourly_cost = -1").replace(
        "cap_share = 0.20", "cap_share = 2"
    )
    with pytest.raises(RulebookError) as err:
        parse_rulebook(text)
    problems = err.value.details["problems"]
    assert len(problems) == 2
    assert any("chiffrage.default_hourly_cost" in p for p in problems)
    assert any("penalties.cap_share" in p for p in problems)


def test_situation_in_two_categories_is_refused() -> None:
    text = DEFAULT_TEXT.replace(
        "[exits.categories.autre.situations.sans_nouvelles]",
        "[exits.categories.autre.situations.cdi]",
    )
    with pytest.raises(RulebookError) as err:
        parse_rulebook(text)
    assert "cdi" in err.value.message_fr


def test_non_derived_criterion_cannot_waive_its_proof() -> None:
    text = DEFAULT_TEXT.replace(
        'short_fr = "RSA"\n', 'short_fr = "RSA"\nproof_required = false\n', 1
    )
    with pytest.raises(RulebookError) as err:
        parse_rulebook(text)
    assert "eligibility.criteria.rsa" in err.value.message_fr


def test_rulebook_is_frozen_and_cached() -> None:
    rb = shipped_rulebook("default")
    assert shipped_rulebook("default") is rb
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises its own ValidationError
        rb.hours.monthly_hours_max = Decimal(1)  # type: ignore[misc]


def _field_names(model: type[BaseModel], seen: set[type]) -> set[str]:
    names: set[str] = set()
    if model in seen:
        return names
    seen.add(model)
    for name, info in model.model_fields.items():
        if name != "key":  # keys are the table names, documented as such
            names.add(name)
        for arg in _nested_models(info.annotation):
            names |= _field_names(arg, seen)
    return names


def _nested_models(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        out.extend(_nested_models(arg))
    return out


def test_readme_documents_every_key_and_says_defaults_are_defaults() -> None:
    readme = (RULEBOOK_DIR / "README.md").read_text(encoding="utf-8")
    prose = re.sub(r"```.*?```", "", readme, flags=re.DOTALL)
    documented = {
        word for span in re.findall(r"`([^`]+)`", prose) for word in re.findall(r"[a-z_]+", span)
    }
    names = _field_names(Rulebook, set())
    assert len(names) > 40
    assert names - documented == set()
    assert "defaults, not the law" in readme
    for category in EXIT_CATEGORY_KEYS:
        assert f"`{category}`" in readme
