"""Eligibility of a person to the social clause.

Rules (DOMAIN.md, "Who is eligible"; values from the rulebook's ``eligibility`` section):

* the facilitator must have validated the candidature (``ParticipantFacts.validated_on``), on or
  before the assessment date: "every candidature is validated by the facilitator before hiring";
* at least one criterion of the catalogue must be met:
  - a proof-based criterion (RSA, DELD, RQTH...) is met when its proof was validated by a
    facilitator and is still within its validity window (``proof_validity_months``). A claimed
    but unvalidated criterion never makes anyone eligible;
  - a derived criterion is computed from facts: ``age_under_26`` / ``age_50_plus`` from the birth
    date, ``qpv_resident`` from the QPV flag. With ``proof_required`` (the default catalogue's
    "jeune sans qualification") it also needs a validated proof;
* before the person's first entry in the scheme, the facilitator's validation (the diagnosis) is
  usable ``diagnosis_validity_months`` and the proofs are checked at the assessment date;
* once the person has entered (first contract counted on a clause), criteria are checked *at the
  entry date* and the person stays eligible ``eligibility_months_after_entry`` months from it,
  whatever happens to the proofs afterwards.

Date conventions: a document dated D valid N months *expires on* D + N months (it is usable up
to the day before). Clause eligibility after an entry on E ends the day before E + N months,
inclusive (entry on 01/03/2025 with 24 months: eligible up to 28/02/2027); when that day does not
exist (entry on 29/02 or a 31st), it ends on the last day of the shorter month.

``valid_until`` is the last day of eligibility on the evidence given: after entry, the clause
eligibility end; before entry, the last day on which the person could still be hired as eligible
(the earliest of the diagnosis expiry and the best criterion's expiry).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from clauses.counting import add_months
from clauses.formatting import fr_date
from clauses.rulebook import DERIVED_QPV, Criterion, Rulebook

ONE_DAY = dt.timedelta(days=1)
NO_VALIDATION_FR = "aucune validation par la·le facilitateur·rice"


@dataclass(frozen=True, slots=True)
class ParticipantFacts:
    """What the rules need to know about a person (the least: no file, no free text)."""

    birth_date: dt.date | None = None
    qpv_resident: bool = False
    first_entry_date: dt.date | None = None
    validated_on: dt.date | None = None
    validated_by: str | None = None


@dataclass(frozen=True, slots=True)
class CriterionProof:
    """A criterion claimed for a person, with its proof's date and its validation if any."""

    criterion: str
    proof_date: dt.date | None = None
    validated_on: dt.date | None = None
    validated_by: str | None = None


@dataclass(frozen=True, slots=True)
class CriterionStatus:
    """Outcome of one criterion: met or not, until when, and why not."""

    key: str
    label_fr: str
    met: bool
    usable_until: dt.date | None = None
    message_fr: str | None = None
    sensitive: str | None = None


@dataclass(frozen=True, slots=True)
class EligibilityAssessment:
    eligible: bool
    criteria: tuple[str, ...]
    valid_until: dt.date | None
    missing: tuple[str, ...]
    at: dt.date
    reference_date: dt.date
    entered: bool
    statuses: tuple[CriterionStatus, ...] = field(default=())

    @property
    def missing_fr(self) -> str:
        """The French reasons as one sentence ("" when nothing is missing)."""
        return " ; ".join(self.missing)

    @property
    def sensitive_criteria(self) -> tuple[str, ...]:
        """Met criteria that are health/justice data (RGPD art. 9 and 10): show with care."""
        return tuple(s.key for s in self.statuses if s.met and s.sensitive)


def clause_eligibility_end(first_entry_date: dt.date, rulebook: Rulebook) -> dt.date:
    """Last day a person who first entered on ``first_entry_date`` counts for the clause."""
    months = rulebook.eligibility.eligibility_months_after_entry
    anniversary = add_months(first_entry_date, months)
    if anniversary.day < first_entry_date.day:
        # the anniversary day does not exist (entry on 29/02 or a 31st): the period runs to the
        # end of that shorter month rather than losing a day (29/02/2024 + 24 -> 28/02/2026)
        return anniversary
    return anniversary - ONE_DAY


def age_on(birth_date: dt.date, day: dt.date) -> int:
    """Age in whole years on ``day``."""
    before_birthday = (day.month, day.day) < (birth_date.month, birth_date.day)
    return day.year - birth_date.year - int(before_birthday)


def _birthday(birth_date: dt.date, age: int) -> dt.date:
    return add_months(birth_date, 12 * age)


def _derived_status(
    criterion: Criterion, facts: ParticipantFacts, ref: dt.date, ref_fr: str
) -> tuple[bool, dt.date | None, str | None]:
    """(met, usable until, reason) of the fact-based part of a derived criterion."""
    if criterion.derived == DERIVED_QPV:
        if facts.qpv_resident:
            return True, None, None
        return False, None, f"{criterion.short} : résidence en QPV non renseignée"
    if facts.birth_date is None:
        return False, None, f"{criterion.short} : date de naissance inconnue"
    age = age_on(facts.birth_date, ref)
    if criterion.age_under is not None:
        limit = criterion.age_under
        if age < limit:
            return True, _birthday(facts.birth_date, limit) - ONE_DAY, None
        return False, None, f"{criterion.short} : {age} ans {ref_fr}"
    if criterion.age_at_least is not None:
        limit = criterion.age_at_least
        if age >= limit:
            return True, None, None
        return False, None, f"{criterion.short} : {age} ans {ref_fr}"
    return False, None, f"{criterion.short} : règle de calcul inconnue"  # pragma: no cover


def _proof_status(
    criterion: Criterion, proof: CriterionProof, ref: dt.date, at: dt.date
) -> tuple[bool, dt.date | None, str | None]:
    """(met, usable until, reason) of a proof."""
    if proof.validated_on is None or proof.validated_on > at:
        return False, None, f"justificatif {criterion.short} non validé par la·le facilitateur·rice"
    months = criterion.proof_validity_months
    if months is None:
        return True, None, None
    if proof.proof_date is None:
        return False, None, f"justificatif {criterion.short} sans date"
    expires_on = add_months(proof.proof_date, months)
    if ref >= expires_on:
        return False, None, f"justificatif {criterion.short} expiré le {fr_date(expires_on)}"
    return True, expires_on - ONE_DAY, None


def _later(a: dt.date | None, b: dt.date | None) -> dt.date | None:
    """The later of two "usable until" dates, where None means "no end"."""
    if a is None or b is None:
        return None
    return max(a, b)


def _earlier(a: dt.date | None, b: dt.date | None) -> dt.date | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def assess_eligibility(
    facts: ParticipantFacts,
    proofs: Iterable[CriterionProof],
    at: dt.date,
    rulebook: Rulebook,
) -> EligibilityAssessment:
    """Whether the person is eligible on ``at``, through which criteria, until when, and why not."""
    rules = rulebook.eligibility
    entered = facts.first_entry_date is not None and facts.first_entry_date <= at
    ref = facts.first_entry_date if entered and facts.first_entry_date else at
    ref_fr = f"à la date d'entrée du {fr_date(ref)}" if entered else f"au {fr_date(ref)}"
    missing: list[str] = []

    validation_ok = facts.validated_on is not None and facts.validated_on <= at
    diagnosis_until: dt.date | None = None
    if not validation_ok:
        missing.append(NO_VALIDATION_FR)
    elif not entered and facts.validated_on is not None:
        expires_on = add_months(facts.validated_on, rules.diagnosis_validity_months)
        diagnosis_until = expires_on - ONE_DAY
        if at >= expires_on:
            validation_ok = False
            missing.append(
                f"validation de la·du facilitateur·rice du {fr_date(facts.validated_on)} "
                f"expirée le {fr_date(expires_on)} (valable {rules.diagnosis_validity_months} "
                "mois) : à renouveler"
            )

    by_key: dict[str, list[CriterionProof]] = {}
    for proof in proofs:
        if proof.criterion not in rules.criteria:
            missing.append(f"critère inconnu du règlement : « {proof.criterion} »")
            continue
        by_key.setdefault(proof.criterion, []).append(proof)

    statuses: list[CriterionStatus] = []
    for key, criterion in rules.criteria.items():
        claimed = by_key.get(key, [])
        if criterion.needs_proof and not claimed:
            continue  # not claimed: nothing to say
        derived_ok, derived_until, derived_reason = True, None, None
        if criterion.derived is not None:
            derived_ok, derived_until, derived_reason = _derived_status(
                criterion, facts, ref, ref_fr
            )
            if not derived_ok and not claimed:
                continue  # automatic criterion that does not apply: not worth a message
        met, until, reasons = derived_ok, derived_until, []
        if derived_reason:
            reasons.append(derived_reason)
        if criterion.needs_proof:
            best_until: dt.date | None = None
            proof_met = False
            proof_reasons: list[str] = []
            for proof in claimed:
                ok, proof_until, reason = _proof_status(criterion, proof, ref, at)
                if ok:
                    best_until = proof_until if not proof_met else _later(best_until, proof_until)
                    proof_met = True
                elif reason and reason not in proof_reasons:
                    proof_reasons.append(reason)
            met = met and proof_met
            until = _earlier(until, best_until) if proof_met else None
            if not proof_met:
                reasons.extend(proof_reasons)
        message = " ; ".join(reasons) if reasons and not met else None
        if message:
            missing.append(message)
        statuses.append(
            CriterionStatus(
                key=key,
                label_fr=criterion.label_fr,
                met=met,
                usable_until=until if met else None,
                message_fr=message,
                sensitive=criterion.sensitive,
            )
        )

    met_statuses = [s for s in statuses if s.met]
    if not met_statuses:
        missing.append("aucun critère d'éligibilité rempli et validé")

    eligible = validation_ok and bool(met_statuses)
    valid_until: dt.date | None = None
    if entered and facts.first_entry_date is not None:
        end = clause_eligibility_end(facts.first_entry_date, rulebook)
        if at > end:
            eligible = False
            missing.append(
                f"éligibilité à la clause terminée le {fr_date(end)} "
                f"({rules.eligibility_months_after_entry} mois après l'entrée du "
                f"{fr_date(facts.first_entry_date)})"
            )
        valid_until = end if eligible else None
    elif eligible:
        criteria_until: dt.date | None = met_statuses[0].usable_until
        for status in met_statuses[1:]:
            criteria_until = _later(criteria_until, status.usable_until)
        valid_until = _earlier(diagnosis_until, criteria_until)

    return EligibilityAssessment(
        eligible=eligible,
        criteria=tuple(s.key for s in met_statuses),
        valid_until=valid_until,
        missing=tuple(missing),
        at=at,
        reference_date=ref,
        entered=entered,
        statuses=tuple(statuses),
    )
