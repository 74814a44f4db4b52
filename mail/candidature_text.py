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
    "criteres d'eligibilite iae": "criteria", "public cible": "criteria",
    "statut a l'entree": "status", "situation a l'entree": "status", "statut a l'entree dans la clause": "status",
    "situation": "status", "situation actuelle": "status",
    "candidat": "full_name", "candidate": "full_name", "candidat(e)": "full_name",
    "nom et prenom": "full_name", "nom prenom": "full_name", "nom / prenom": "full_name",
    "prenom nom": "full_name", "nom complet": "full_name", "identite": "full_name",
    "beneficiaire": "full_name", "personne orientee": "full_name", "participant": "full_name",
    "nom du candidat / de la candidate": "full_name", "candidat propose": "full_name",
    "nom d'usage": "last_name", "prenom(s)": "first_name",
    "sexe (f/h)": "gender", "lieu de residence": "commune", "adresse": "address",
    "residant en qpv": "qpv", "habite en qpv": "qpv", "qpv (oui/non)": "qpv",
    "marche concerne": "market", "reference du marche": "market", "marche / lot": "market",
    "n de lot": "lot", "numero de lot": "lot", "lot n": "lot",
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
    status_at_entry: str | None = None
    """A rulebook criterion key, from « Statut à l'entrée : … », when recognised."""
    unsure: str | None = None
    """Why the candidate cannot be told apart with confidence (then nothing is recorded and
    the message goes to the facilitator with what was understood)."""
    understood: dict[str, str] = field(default_factory=dict)
    """What was read, in French, for the facilitator who takes the message over."""


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


_MARKET = re.compile(
    r"\bmarch[ée]s?\b\s*(?:public\s*)?(?:n\s*[°o]\.?\s*|num[ée]ro\s*|r[ée]f(?:[ée]rence)?\.?\s*)?[:|]?\s*"
    r"(?P<ref>(?=[\w/.-]*\d)[0-9A-Z][\w/.-]{1,40}\w)"
    r"(?:\s*(?:[-–—,/|(]|et)?\s*\blot\s*(?:n\s*[°o]\.?\s*)?(?P<lot>\d{1,4}))?",
    re.IGNORECASE)
_LOT = re.compile(r"\blot\s*(?:n\s*[°o]\.?\s*)?(\d{1,4})\b", re.IGNORECASE)
_FORWARD_HEADER = re.compile(
    r"^\s*>*\s*(?:de|from|envoy[ée](?: le)?|sent|[àa]|to|cc|date|objet|subject)\s*:", re.IGNORECASE)
_FORWARD_SUBJECT = re.compile(r"^\s*>*\s*(?:objet|subject)\s*:\s*(.*)$", re.IGNORECASE)
_SIGNATURE = re.compile(
    r"^\s*(?:--\s*$|(?:bien |tr[èe]s )?cordialement|bien [àa] (?:vous|toi)|sinc[èe]res salutations|"
    r"salutations|bonne (?:journ[ée]e|fin de journ[ée]e|soir[ée]e)|merci(?: d'avance| par avance)?[ ,.!]*$|"
    r"envoy[ée] de(?:puis)? mon)", re.IGNORECASE)
_FORWARD_START = re.compile(
    r"^\s*(?:-{2,}.*(?:transf[ée]r[ée]|forwarded|original|origine).*|d[ée]but du message (?:r[ée]exp[ée]di[ée]|transf[ée]r[ée]).*)$",
    re.IGNORECASE)
_CUE = re.compile(r"(?:candidature d[eu]|propos(?:e|ons)|pr[ée]sente|positionn\w*|orient\w*|"
                  r"candidat(?:e)?\s*:?)\s*$", re.IGNORECASE)


def _split_cells(line: str) -> list[str] | None:
    """Cells of a table row (« | » or tab separated), None for other lines."""
    stripped = line.strip()
    if "|" in stripped:
        cells = [c.strip() for c in stripped.strip("|").split("|")]
    elif "\t" in stripped:
        cells = [c.strip() for c in stripped.split("\t")]
    else:
        return None
    return cells if len(cells) >= 2 else None


def _key_of(label: str) -> str | None:
    return _FIELD_KEYS.get(fold(label).strip(" .:*").rstrip(" °"))


def _zones(text: str) -> tuple[list[str], list[str]]:
    """(body lines, forwarded subjects): the text without forwarded headers (they name the
    senders, not the candidate) nor signatures (they name the prescriber)."""
    lines: list[str] = []
    subjects: list[str] = []
    in_signature = False
    for raw in text.splitlines()[:400]:
        line = re.sub(r"^\s*(?:>\s?)+", "", raw)
        if _FORWARD_START.match(line):
            in_signature = False
            continue
        match = _FORWARD_SUBJECT.match(line)
        if match:
            subjects.append(match.group(1))
            in_signature = False
            continue
        if _FORWARD_HEADER.match(line):
            in_signature = False
            continue
        if _SIGNATURE.match(line):
            in_signature = True
            continue
        if in_signature:
            continue
        lines.append(line)
    return lines, subjects


def _read_fields(lines: list[str]) -> tuple[dict[str, str], int]:
    """Labelled lines and tables: (field -> value, number of distinct persons in tables)."""
    values: dict[str, str] = {}
    persons = 0
    header: list[str | None] | None = None
    for line in lines:
        cells = _split_cells(line)
        if cells is None:
            header = None
            match = _LINE.match(line)
            if match:
                key = _key_of(match.group(1))
                if key and key not in values and match.group(2):
                    values[key] = match.group(2)[:300]
            continue
        if all(re.fullmatch(r":?-{2,}:?|", c) for c in cells):
            continue  # a markdown separator row
        keys = [_key_of(c) for c in cells]
        if header is not None and len(cells) == len(header):
            row = {k: v for k, v in zip(header, cells, strict=True) if k and v}
            if any(k in row for k in ("last_name", "full_name")):
                persons += 1
            for key, value in row.items():
                values.setdefault(key, value[:300])
            continue
        if sum(1 for k in keys if k) >= 2 and not (len(cells) == 2 and keys[0] and not keys[1]):
            header = keys
            continue
        header = None
        if keys[0] and any(cells[1:]):
            values.setdefault(keys[0], " ".join(c for c in cells[1:] if c)[:300])
    return values, persons


def _split_full(value: str) -> tuple[str, str] | None:
    """(last, first) from « DUPONT Marie » or « Marie DUPONT »; None when the case does not say."""
    words = [w for w in re.split(r"\s+", value.strip()) if w]
    upper = [i for i, w in enumerate(words) if w.isupper() and len(w) > 1]
    if len(words) < 2 or not upper or len(upper) == len(words):
        return None
    if upper != list(range(upper[0], upper[-1] + 1)) or upper[0] not in (0, len(words) - len(upper)):
        return None
    last = " ".join(words[i] for i in upper)
    first = " ".join(w for i, w in enumerate(words) if i not in upper)
    return last, first


def _market(texts: list[str]) -> tuple[str | None, int | None]:
    for text in texts:
        match = _MARKET.search(text)
        if match:
            lot = match.group("lot")
            if lot is None:
                after = _LOT.search(text[match.end():match.end() + 40])
                lot = after.group(1) if after else None
            return match.group("ref").rstrip(".,;"), int(lot) if lot else None
    return None, None


def _free_names(lines: list[str]) -> set[tuple[str, str, str | None]]:
    found: set[tuple[str, str, str | None]] = set()
    text = "\n".join(lines)
    for match in _CIVILITY.finditer(text):
        civ, a, b = match.groups()
        if b is None or a in _STOP_UPPER or b in _STOP_UPPER:
            continue
        gender = "F" if civ.lower().startswith(("mme", "madame", "mlle", "mademoiselle")) else "M"
        found.add((a, b, gender) if a.isupper() and not b.isupper() else (b, a, gender))
    if found:
        return found
    for pattern, order in ((_PAIR_FIRST_LAST, "fl"), (_PAIR_LAST_FIRST, "lf")):
        for match in pattern.finditer(text):
            if not _CUE.search(text[max(0, match.start() - 40):match.start()]):
                continue
            a, b = match.groups()
            last, first = (b, a) if order == "fl" else (a, b)
            if last not in _STOP_UPPER:
                found.add((last, first, None))
    return found


def extract_candidate(text: str, subject: str, criteria: dict[str, Any],
                      cv_filename: str | None = None, *, html_text: str = "",
                      sender_name: str = "", sender_address: str = "") -> CandidateFields:
    """Best understanding of the candidate; `candidate` is None when no name was found, and
    `unsure` says why when names were found but cannot be trusted (several people, the sender's
    own name). Tables (text or HTML) and labelled lines first; free text only with a civility
    (« Mme Marie DUPONT ») or a cue (« candidature de Marie DUPONT »), outside signatures and
    forwarded headers."""
    index = _criteria_index(criteria)
    lines, subjects = _zones(text)
    values, persons = _read_fields(lines)
    if html_text and not ({"last_name", "full_name"} & set(values)):
        html_lines, html_subjects = _zones(html_text)
        more, html_persons = _read_fields(html_lines)
        for key, value in more.items():
            values.setdefault(key, value)
        persons = max(persons, html_persons)
        subjects += html_subjects
        lines = lines + html_lines
    result = CandidateFields(candidate=None)
    understood = result.understood

    market_value = values.get("market")
    ref, lot = _market([f"marché {market_value}"] if market_value else [])
    if ref is None and market_value:
        ref = market_value.split()[0].strip(".,;")[:60]
    if ref is None:
        ref, lot = _market([subject, *subjects, "\n".join(lines)])
    if values.get("lot"):
        digits = re.search(r"\d{1,4}", values["lot"])
        lot = int(digits.group(0)) if digits else lot
    result.market_reference, result.lot_number = (ref[:60] if ref else None), lot
    if ref:
        understood["marché"] = ref + (f", lot {lot}" if lot is not None else "")
    result.company_name = values.get("company")
    result.job = values.get("job")

    gender = _gender(values["gender"]) if values.get("gender") else None
    last = first = None
    if values.get("last_name") and values.get("first_name"):
        last, first = values["last_name"], values["first_name"]
        result.structured = True
    elif values.get("full_name"):
        split = _split_full(values["full_name"])
        understood["nom indiqué"] = values["full_name"][:100]
        if split is None:
            result.unsure = (f"« {values['full_name'][:60]} » : impossible de distinguer le nom du prénom "
                             "(écrivez le nom en majuscules, ou « Nom : … » et « Prénom : … »)")
        else:
            (last, first), result.structured = split, True
    elif values.get("last_name"):
        understood["nom indiqué"] = values["last_name"][:100]
        result.unsure = "prénom de la personne non indiqué"
    else:
        names = _free_names(lines)
        if len(names) > 1:
            listed = ", ".join(sorted(f"{f} {la}" for la, f, _ in names))[:200]
            understood["personnes citées"] = listed
            result.unsure = f"plusieurs personnes sont citées ({listed})"
        elif names:
            last, first, found_gender = next(iter(names))
            gender = gender or found_gender
        else:
            by_file = _name_from_filename(cv_filename)
            if by_file is not None:
                last, first = by_file
    if persons > 1:
        result.unsure = f"le tableau contient {persons} personnes"
    if last and first and _is_sender(last, first, sender_name, sender_address):
        understood["nom trouvé"] = f"{first} {last}"
        result.unsure = "le seul nom trouvé est celui de l'expéditeur"
    if "criteria" in values:
        criteria_keys, result.unknown_criteria = _criteria_from(values["criteria"], index)
    elif result.structured:
        # A table's titles (« QPV », « RSA ? ») are not claims: read the status cell only.
        criteria_keys = _scan_criteria(values.get("status", ""), index)
    else:
        criteria_keys = _scan_criteria(subject + "\n" + "\n".join(lines), index)
    if values.get("qpv") and not fold(values["qpv"]).startswith(("oui", "yes", "o", "1", "x")):
        criteria_keys = [k for k in criteria_keys if k != "qpv"]
    if values.get("status"):
        found_status, _ = _criteria_from(values["status"], index)
        result.status_at_entry = found_status[0] if found_status else None
        understood["statut à l'entrée"] = values["status"][:80]
    birth = _birth(values["birth_date"]) if values.get("birth_date") else None
    if birth is None:
        match = re.search(r"n[ée]+(?:\(e\))?\s+le\s+(\d{1,2}[/.-]\d{1,2}[/.-]\d{4})", "\n".join(lines),
                          flags=re.IGNORECASE)
        birth = _birth(match.group(1)) if match else None
    if birth:
        understood["né·e le"] = birth.strftime("%d/%m/%Y")
    if result.unsure or not (last and first):
        return result
    qpv_text = fold(values.get("qpv", ""))
    email_match = _EMAIL.search(values.get("email", ""))
    message = values.get("message")
    if not result.structured:
        message = "\n".join(lines).strip()[:2000] or None
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


def _is_sender(last: str, first: str, sender_name: str, sender_address: str) -> bool:
    """The name found is the sender's own (display name, or the address's local part)."""
    name = fold(sender_name)
    local = fold(sender_address.partition("@")[0]).replace(".", " ").replace("_", " ").replace("-", " ")
    a, b = fold(last), fold(first)
    return bool(a and ((a in name.split() and b in name.split()) or (a in local.split() and b in local.split())))
