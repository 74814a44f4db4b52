"""Extract a candidate from an e-mail: structured "Champ : valeur" lines first, free text second.

Why heuristics are acceptable here: every candidature is validated by a facilitator before
anyone is hired (seed), the reply tells the sender what was understood, and when no name can
be found the message goes to a facilitator instead of creating a wrong record.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from clauses.candidatures import CandidateInput


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return re.sub(r"\s+", " ", text.replace("\u2019", "'")).strip().lower()


_FIELD_KEYS: dict[str, str] = {
    "nom": "last_name", "nom de famille": "last_name", "nom du candidat": "last_name",
    "nom de la candidate": "last_name", "nom du ou de la candidat(e)": "last_name",
    "prenom": "first_name", "prenom du candidat": "first_name",
    "date de naissance": "birth_date", "ne le": "birth_date", "nee le": "birth_date",
    "ne(e) le": "birth_date", "naissance": "birth_date",
    "sexe": "gender", "genre": "gender", "civilite": "gender",
    "commune": "commune", "ville": "commune", "commune de residence": "commune", "domicile": "commune",
    "qpv": "qpv", "quartier prioritaire": "qpv", "residant qpv": "qpv",
    "email": "email", "e-mail": "email", "courriel": "email", "mail": "email", "adresse e-mail": "email",
    "telephone": "phone", "tel": "phone", "portable": "phone", "tel.": "phone",
    "criteres": "criteria", "critere": "criteria", "criteres d'eligibilite": "criteria",
    "eligibilite": "criteria", "public": "criteria", "statut": "criteria",
    "marche": "market", "reference marche": "market", "marche n": "market",
    "lot": "lot", "entreprise": "company", "poste": "job", "metier": "job",
    "message": "message", "commentaire": "message", "observations": "message", "remarques": "message",
}  # fmt: skip

_LINE = re.compile(r"^\s*[-*•]?\s*([A-Za-zÀ-ÿ'(). -]{2,40}?)\s*[:=]\s*(.*?)\s*$")
_DATE = re.compile(r"\b(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CIVILITY = re.compile(
    r"\b(Madame|Monsieur|Mademoiselle|Mme|Mlle|M\.)\s+"
    r"([A-ZÀ-Ý][\wÀ-ÿ'-]+)(?:\s+([A-ZÀ-Ý][\wÀ-ÿ'-]+))?"
)
_UPPER = r"[A-ZÀ-Ý][A-ZÀ-Ý'-]+"
_CAPITAL = r"[A-ZÀ-Ý][a-zà-ÿ]+(?:-[A-ZÀ-Ý][a-zà-ÿ]+)?"
_PAIR_FIRST_LAST = re.compile(rf"\b({_CAPITAL})\s+({_UPPER})\b")
_PAIR_LAST_FIRST = re.compile(rf"\b({_UPPER})\s+({_CAPITAL})\b")
_STOP_UPPER = frozenset({
    "CV", "RSA", "ASS", "AAH", "DELD", "DETLD", "QPV", "RQTH", "SPIP", "BTP", "PLIE", "SIAE", "GEIQ",
    "ETTI", "EI", "AI", "ACI", "EA", "CDD", "CDI", "CDDI", "PDF", "IER", "PEC", "TP", "FLE", "NB",
    "PS", "RE", "TR", "FW", "FWD", "TEL", "OK", "HT", "TTC", "SARL", "SAS", "SA", "EURL", "ML",
})  # fmt: skip


@dataclass
class CandidateFields:
    candidate: CandidateInput | None
    market_reference: str | None = None
    lot_number: int | None = None
    company_name: str | None = None
    job: str | None = None
    unknown_criteria: list[str] = field(default_factory=list)
    structured: bool = False


def _criteria_index(criteria: dict[str, Any]) -> dict[str, str]:
    index: dict[str, str] = {}
    for key, criterion in criteria.items():
        index[fold(key)] = key
        short = getattr(criterion, "short", None) or getattr(criterion, "short_fr", None)
        if short:
            index[fold(str(short))] = key
    return index


def _criteria_from(text: str, index: dict[str, str]) -> tuple[list[str], list[str]]:
    found: list[str] = []
    unknown: list[str] = []
    for piece in re.split(r"[,;/+\n]| et ", text):
        token = fold(piece).strip(" .")
        if not token:
            continue
        if token in index:
            found.append(index[token])
            continue
        hits = [key for label, key in index.items() if re.search(rf"\b{re.escape(label)}\b", token)]
        if hits:
            found.extend(hits)
        else:
            unknown.append(piece.strip()[:40])
    return list(dict.fromkeys(found)), unknown


def _scan_criteria(text: str, index: dict[str, str]) -> list[str]:
    folded = fold(text)
    found = [key for label, key in index.items() if len(label) >= 3 and re.search(rf"\b{re.escape(label)}\b", folded)]
    return list(dict.fromkeys(found))


def _birth(text: str) -> dt.date | None:
    match = _DATE.search(text)
    if not match:
        return None
    day, month, year = (int(g) for g in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _gender(text: str) -> str | None:
    t = fold(text)
    if t.startswith(("f", "mme", "madame", "mlle", "mademoiselle")):
        return "F"
    if t.startswith(("h", "m", "monsieur", "m.")):
        return "M"
    return None


def _name_from_free_text(text: str) -> tuple[str, str, str | None] | None:
    """(last, first, gender) from "Mme Marie DUPONT", "DUPONT Marie", "Marie DUPONT"..."""
    for match in _CIVILITY.finditer(text):
        civ, a, b = match.groups()
        gender = "F" if civ.lower().startswith(("mme", "madame", "mlle", "mademoiselle")) else "M"
        if b is None:
            continue
        if a.isupper() and not b.isupper():
            return a, b, gender
        if b.isupper() and not a.isupper():
            return b, a, gender
        return b, a, gender
    for match in _PAIR_FIRST_LAST.finditer(text):
        first, last = match.groups()
        if last not in _STOP_UPPER:
            return last, first, None
    for match in _PAIR_LAST_FIRST.finditer(text):
        last, first = match.groups()
        if last not in _STOP_UPPER:
            return last, first, None
    return None


def _name_from_filename(filename: str | None) -> tuple[str, str] | None:
    if not filename:
        return None
    stem = filename.rsplit(".", 1)[0]
    words = [w for w in re.split(r"[_\s.-]+", stem) if w and fold(w) not in ("cv", "curriculum", "vitae")]
    words = [w for w in words if w.isalpha()]
    if len(words) != 2:
        return None
    a, b = words
    if a.isupper() and not b.isupper():
        return a, b
    if b.isupper() and not a.isupper():
        return b, a
    return None


def extract_candidate(text: str, subject: str, criteria: dict[str, Any],
                      cv_filename: str | None = None) -> CandidateFields:
    """Best understanding of the candidate; `candidate` is None when no name was found."""
    index = _criteria_index(criteria)
    values: dict[str, str] = {}
    for line in text.splitlines()[:200]:
        match = _LINE.match(line)
        if not match:
            continue
        key = _FIELD_KEYS.get(fold(match.group(1)).strip(" .").rstrip(" °"))
        if key and key not in values and match.group(2):
            values[key] = match.group(2)[:300]
    structured = "last_name" in values and "first_name" in values
    result = CandidateFields(candidate=None, structured=structured)
    if values.get("market"):
        result.market_reference = values["market"].split()[0].strip(".,;")[:60]
    if values.get("lot"):
        digits = re.search(r"\d{1,4}", values["lot"])
        result.lot_number = int(digits.group(0)) if digits else None
    result.company_name = values.get("company")
    result.job = values.get("job")

    if structured:
        last, first = values["last_name"], values["first_name"]
        gender = _gender(values["gender"]) if values.get("gender") else None
    else:
        found = _name_from_free_text(subject + "\n" + text)
        if found is None:
            by_file = _name_from_filename(cv_filename)
            if by_file is None:
                return result
            last, first, gender = by_file[0], by_file[1], None
        else:
            last, first, gender = found
    if "criteria" in values:
        criteria_keys, result.unknown_criteria = _criteria_from(values["criteria"], index)
    else:
        criteria_keys = _scan_criteria(subject + "\n" + text, index)
    birth = _birth(values["birth_date"]) if values.get("birth_date") else None
    if birth is None and not structured:
        match = re.search(r"n[ée]+(?:\(e\))?\s+le\s+(\d{1,2}[/.-]\d{1,2}[/.-]\d{4})", text, flags=re.IGNORECASE)
        birth = _birth(match.group(1)) if match else None
    qpv_text = fold(values.get("qpv", ""))
    email_match = _EMAIL.search(values.get("email", ""))
    message = values.get("message")
    if not structured:
        message = text.strip()[:2000] or None
    result.candidate = CandidateInput(
        last_name=last.strip()[:100],
        first_name=first.strip()[:100],
        birth_date=birth,
        gender=gender,
        commune=values.get("commune", "").strip()[:120] or None,
        qpv=qpv_text.startswith(("oui", "yes", "o", "1", "x")) or "qpv" in criteria_keys,
        email=email_match.group(0).lower() if email_match else None,
        phone=re.sub(r"[^\d+ ]", "", values.get("phone", ""))[:40] or None,
        criteria_claimed=criteria_keys,
        message=message,
    )
    return result
