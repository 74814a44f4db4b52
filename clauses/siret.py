"""SIRET numbers: checking, normalising and printing them.

A SIRET is how incoming mail, imports and invitations find a company, so it must be stored in one
form only (14 digits, no spaces) whatever the user typed: "732 829 320 00074", "732.829.320.00074"
or with no-break spaces pasted from a spreadsheet. Validation is python-stdnum's
(`stdnum.fr.siret`: length, digits, Luhn check of the SIRET and of its SIREN, La Poste exception),
so a typo is caught at input, not months later when a declaration cannot be matched.
"""

from __future__ import annotations

import re

from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength, ValidationError
from stdnum.fr import siret as stdnum_siret

from clauses.errors import InvalidValueError

_SEPARATORS = re.compile(r"[\s.\-\u00a0\u202f]+")


class InvalidSiretError(InvalidValueError):
    """A SIRET typed by a user is not a valid one; the message says what is wrong with it."""

    code = "siret_invalid"


def _error(text: str, reason_fr: str, reason_en: str) -> InvalidSiretError:
    return InvalidSiretError(
        f"SIRET invalide « {text} » : {reason_fr}",
        f"Invalid SIRET {text!r}: {reason_en}",
        details={"text": text},
    )


def normalize_siret(text: str) -> str:
    """The 14-digit form of a SIRET typed with or without separators; raises InvalidSiretError.

    Spaces (including no-break spaces), dots and hyphens are accepted as separators because that
    is how SIRETs are printed on invoices and in the Sirene directory.
    """
    raw = (text or "").strip()
    if not raw:
        raise _error(raw, "il est vide (14 chiffres attendus).", "empty.")
    compact = _SEPARATORS.sub("", raw)
    try:
        return stdnum_siret.validate(compact)
    # InvalidLength subclasses InvalidFormat in python-stdnum: order matters.
    except InvalidLength:
        raise _error(raw, f"il a {len(compact)} chiffre(s) au lieu de 14.",
                     f"{len(compact)} digits instead of 14.") from None
    except InvalidFormat:
        raise _error(raw, "il ne doit contenir que des chiffres (14 chiffres attendus).",
                     "non-digit characters.") from None
    except InvalidChecksum:
        raise _error(raw, "la clé de contrôle ne correspond pas (faute de frappe ?). "
                     "Vérifiez-le sur annuaire-entreprises.data.gouv.fr.",
                     "check digit mismatch.") from None
    except ValidationError:
        raise _error(raw, "numéro non reconnu.", "not recognised.") from None


def is_valid_siret(text: str) -> bool:
    """Whether ``text`` is a valid SIRET once separators are removed."""
    try:
        normalize_siret(text)
    except InvalidSiretError:
        return False
    return True


def looks_like_siret(text: str) -> bool:
    """Whether ``text`` is meant as a SIRET (digits and separators only), valid or not.

    Lets a command accept "a SIRET or a company name" in one argument and still report a
    mistyped SIRET as such rather than as an unknown company name.
    """
    compact = _SEPARATORS.sub("", (text or "").strip())
    return bool(compact) and compact.isdigit() and len(compact) >= 9


def format_siret(siret: str) -> str:
    """The usual printed form "732 829 320 00074" (SIREN in three groups, then the NIC)."""
    return stdnum_siret.format(siret)
