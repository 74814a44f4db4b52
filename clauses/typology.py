"""The typology the bilans report (age band, gender, commune, QPV, status at entry), checked once
for every channel: the chat's /candidat, e-mailed candidatures, the facilitator's completion.

Each field is optional (a company may not know them; the facilitator completes them at
validation). A year alone is stored as 1 January of that year: the bilans only need the age
band, and the person's exact date is not asked when it is not known.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

from clauses import audit
from clauses.actors import Actor
from clauses.authz import Action, NotAllowed, authorize
from clauses.context import Context
from clauses.errors import DomainError
from clauses.formatting import fold
from storage.models import Candidature, Gender, Participant

MIN_AGE, MAX_AGE = 15, 80
MAX_COMMUNE = 120
_COMMUNE = re.compile(r"^[^\W_][\w'’ \-().,/]*$")
GENDER_WORDS = {"f": Gender.F, "femme": Gender.F, "h": Gender.M, "m": Gender.M, "homme": Gender.M,
                "x": Gender.X, "autre": Gender.X, "non binaire": Gender.X}
YES = {"oui", "o", "yes", "qpv", "true", "1"}
NO = {"non", "n", "no", "false", "0", "hors qpv"}


@dataclass(frozen=True)
class Typology:
    """Checked values; None means "not given" (never "no")."""

    birth_date: dt.date | None = None
    gender: Gender | None = None
    commune: str | None = None
    qpv: bool | None = None
    status_at_entry: str | None = None

    def given(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def parse_birth(text: str, today: dt.date) -> dt.date:
    """« 12/03/1990 », « 1990-03-12 » or a year « 1990 » (stored as 1 January)."""
    raw = text.strip()
    try:
        if re.fullmatch(r"\d{4}", raw):
            day = dt.date(int(raw), 1, 1)
        elif m := re.fullmatch(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})", raw):
            day = dt.date(int(m[3]), int(m[2]), int(m[1]))
        elif m := re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", raw):
            day = dt.date(int(m[1]), int(m[2]), int(m[3]))
        else:
            raise ValueError
    except ValueError:
        raise DomainError(f"Date de naissance illisible « {raw[:30]} » : écrivez JJ/MM/AAAA "
                          "(ex. 12/03/1990) ou seulement l'année (ex. 1990).") from None
    return check_birth(day, today)


def check_birth(day: dt.date, today: dt.date) -> dt.date:
    age = today.year - day.year - ((today.month, today.day) < (day.month, day.day))
    if not MIN_AGE <= age <= MAX_AGE:
        raise DomainError(f"Date de naissance {day:%d/%m/%Y} improbable (âge {age} ans) : vérifiez "
                          f"l'année (entre {MIN_AGE} et {MAX_AGE} ans).")
    return day


def parse_gender(text: str) -> Gender:
    found = GENDER_WORDS.get(fold(text).strip())
    if found is None:
        raise DomainError(f"Genre « {text[:20]} » non reconnu : F (femme), H (homme) ou X (autre).")
    return found


def parse_qpv(text: str | bool) -> bool:
    if isinstance(text, bool):
        return text
    word = fold(text).strip()
    if word in YES:
        return True
    if word in NO:
        return False
    raise DomainError(f"QPV « {text[:20]} » : répondez oui ou non (habite un quartier prioritaire).")


def clean_commune(text: str) -> str:
    value = " ".join(text.split())
    if not value or len(value) > MAX_COMMUNE or not _COMMUNE.match(value):
        raise DomainError(f"Commune « {value[:40]} » illisible : écrivez son nom, par exemple "
                          f"« Oullins » ou « Saint-Genis-Laval » ({MAX_COMMUNE} caractères au plus).")
    return value


def check_status(ctx: Context, key: str) -> str:
    criteria = ctx.rulebook.eligibility.criteria
    if key not in criteria:
        valid = ", ".join(f"{k} ({c.short})" for k, c in criteria.items())
        raise DomainError(f"Statut à l'entrée inconnu « {key[:40]} ». Statuts possibles : {valid}.")
    return key


def check_typology(
    ctx: Context,
    *,
    birth_date: dt.date | int | str | None = None,
    gender: Gender | str | None = None,
    commune: str | None = None,
    qpv: bool | str | None = None,
    status_at_entry: str | None = None,
) -> Typology:
    """The keyword arguments every channel passes, checked; a French DomainError otherwise."""
    today = ctx.clock.today()
    if isinstance(birth_date, int):
        birth_date = str(birth_date)
    birth = (parse_birth(birth_date, today) if isinstance(birth_date, str)
             else check_birth(birth_date, today) if birth_date is not None else None)
    return Typology(
        birth_date=birth,
        gender=parse_gender(gender) if isinstance(gender, str) else gender,
        commune=clean_commune(commune) if commune is not None else None,
        qpv=parse_qpv(qpv) if qpv is not None else None,
        status_at_entry=check_status(ctx, status_at_entry) if status_at_entry is not None else None,
    )


def apply_typology(participant: Participant, typology: Typology, *, overwrite: bool) -> dict[str, object]:
    """Write the given fields; without ``overwrite`` only the empty ones (a second candidature
    never silently changes a person). Returns what changed (for the audit)."""
    changed: dict[str, object] = {}
    for field, value in typology.given().items():
        current = getattr(participant, field)
        empty = current is None or (field == "qpv" and current is False)
        if current != value and (overwrite or empty):
            setattr(participant, field, value)
            changed[field] = value.isoformat() if isinstance(value, dt.date) else str(value)
    return changed


def complete_typology(ctx: Context, session: Session, actor: Actor, candidature_id: int,
                      **fields: object) -> Participant:
    """The facilitator completes or corrects the person's typology; audited."""
    authorize(session, actor, Action.CANDIDATURE_DECIDE, "candidature", candidature_id)
    cand = session.get(Candidature, candidature_id)
    participant = session.get(Participant, cand.participant_id) if cand else None
    if participant is None or participant.anonymised_at is not None:
        raise NotAllowed()
    typology = check_typology(ctx, **fields)  # type: ignore[arg-type]
    if not typology.given():
        raise DomainError("Rien à compléter : indiquez par exemple « /completer 12 naissance 1990 "
                          "genre F commune Oullins qpv oui statut rsa ».")
    changed = apply_typology(participant, typology, overwrite=True)
    audit.record(session, actor, "participant.typology", "participant", participant.id,
                 candidature_id=candidature_id, fields=sorted(changed))
    session.flush()
    return participant


def profile_summary(ctx: Context, participant: Participant, candidature_id: int) -> str:
    """The alert's line about the typology: what is known, and how to complete what is not."""
    known = []
    if participant.birth_date is not None:
        known.append(f"né·e en {participant.birth_date.year}")
    if participant.gender is not None:
        known.append({Gender.F: "femme", Gender.M: "homme"}.get(participant.gender, "autre"))
    if participant.commune:
        known.append(participant.commune)
    known.append("QPV" if participant.qpv else "hors QPV")
    if participant.status_at_entry:
        crit = ctx.rulebook.eligibility.criteria.get(participant.status_at_entry)
        known.append(f"statut {crit.short if crit else participant.status_at_entry}")
    missing = (participant.birth_date is None or participant.gender is None
               or not participant.commune or participant.status_at_entry is None)
    hint = (f" — à compléter : /completer {candidature_id} naissance 1990 genre F commune "
            "Oullins qpv oui statut rsa" if missing else "")
    return "Profil : " + ", ".join(known) + hint
