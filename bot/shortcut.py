"""The free-text declaration: « Dupont Marie 35h mars lot 2 », « Benali 35h dont 7h de formation
novembre, Martin 20h », « Marie Dupont a fait 35 h 30 le mois dernier ».

Parsing is pure (no database): :func:`understand` cuts the message into one part per person,
and reads in each part the hours (work, training, « dont »), the month, the lot, the market
reference and the words left for the person's name. It either understands every part or refuses
with the precise reason (« -8h » → negative hours), because a guessed figure would be recorded
wrongly. Matching the names against the company's contracts, and the ceilings of the rulebook,
are the declaration flow's and the domain's job.

Why a small tokenizer rather than one big pattern: the same words mean different things by
position (« 7h formation 28h travail » labels each amount by the word after it; « 151,67 h
formation 7h » by the word before), and a month must be read before the hours so that
« 7h 12/2026 » is not 7 h 12 min.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from clauses.counting import add_months, month_start
from clauses.errors import DomainError
from clauses.formatting import fold, fr_hours, fr_month, parse_month

MAX_CHARS = 500
MAX_MONTH_HOURS = Decimal(744)  # more hours than a month has: surely a typo

_MONTH_NAMES = (
    r"janvier|janv|fevrier|fevr|fev|mars|avril|avr|mai|juin|juillet|juil|aout|septembre|"
    r"sept|octobre|oct|novembre|nov|decembre|dec"
)
_RELATIVE_MONTH = re.compile(
    r"\b(?:(?:le|du|au|pour\s+le|sur\s+le)\s+)?mois\s+(dernier|precedent|passe)\b"
    r"|\b(?:(?:pour|sur)\s+)?ce\s+mois(?:[\s-]*ci)?\b"
)
_NUMERIC_MONTH = re.compile(
    r"(?<![\d,.])(?:(\d{1,2})\s*(?:[/\-]\s*(\d{4}|\d{2})|\.(\d{4}))|(\d{4})\s*[/\-]\s*(\d{1,2}))"
    r"(?![\d,.]*\s*h\b)(?!\d)"
)
_FULL_DATE = re.compile(r"(?<![\d,.])\d{1,2}\s*[/.\-]\s*\d{1,2}\s*[/.\-]\s*\d{2,4}(?!\d)")
OLDEST_YEARS = 5
"""A month typed more than this many years back is surely a misread date (« 12/11 »)."""
_MONTH_NUMBER = re.compile(r"\bmois\s+(?:de\s+|n\s*[°o]?\s*)?(\d{1,2})\b(?!\s*(?:h|heures?)\b)")
_MONTH_WORD = re.compile(rf"\b(?:{_MONTH_NAMES})\b\.?(?:\s+(\d{{4}})\b)?")
_LOT = re.compile(r"\blot\s*(?:n\s*[°o]?\s*)?(\d{1,3})\b")
_MARKET_WORD = re.compile(r"\bmarche\s+(?:n\s*[°o]?\s*)?([a-z0-9][a-z0-9/_.\-]{1,58})")
_MARKET_REF = re.compile(r"\b(\d{4}-[a-z0-9]{1,8}(?:-[a-z0-9]{1,8})?)\b")
_AMOUNT = re.compile(
    r"(?<![\w.,/])(?P<neg>-|moins\s+)?(?P<num>\d+(?:[.,]\d+)?)(?![a-gi-z])"
    r"(?:\s*(?P<unit>h|hrs?|heures?)(?![a-z])(?:(?:(?P<min>\d{2})|\s(?P<smin>00|15|30|45))\b(?!\s*(?:h|heures?|hrs?)\b|[.,]\d)"
    r"(?:\s*(?:min|mn)\b)?)?)?"
)
_TRAINING_WORD = r"(?:formations?|form\.?)"
_WORK_WORD = r"(?:travail|travaillees?|de\s+travail|production|chantier)"
_AFTER_LABEL = re.compile(
    rf"^\s*(?:de\s+|d'\s*|en\s+)?(?:(?P<training>{_TRAINING_WORD})|(?P<work>{_WORK_WORD}))\b"
)
_BEFORE_LABEL = re.compile(
    rf"(?:(?P<training>{_TRAINING_WORD})|(?P<work>travail|heures\s+de\s+travail)|(?P<dont>dont))"
    r"\s*:?\s*$"
)
_SEGMENTS = re.compile(r"\n|;|,(?!\d)|\s\+\s|\bet\b|\bpuis\b|\bensuite\b")
_NAME_WORD = re.compile(r"^[a-z][a-z'\-]{0,39}$")
_STOP_WORDS = frozenset(
    {"de", "du", "des", "d", "en", "pour", "le", "la", "les", "l", "h", "heure", "heures", "hrs",
     "travail", "mois", "declarer", "declare", "declaration", "sur", "au", "aux", "a", "fait",
     "fais", "effectue", "effectuees", "realise", "realisees", "travaille", "travaillees",
     "formation", "formations", "total", "tout", "ce", "cette", "dont", "avec",
     "m", "mr", "mme", "mlle", "monsieur", "madame", "bonjour", "merci", "svp", "stp",
     "salut", "cordialement", "je", "j'ai", "nous", "avons", "on", "il", "elle", "ont", "par",
     "chez", "lot", "marche", "pendant", "soit", "ai", "chantier", "production"}
)


@dataclass(frozen=True)
class ShortcutDraft:
    """One person's declaration as typed: `work_hours` excludes the training hours."""

    names: tuple[str, ...]
    work_hours: Decimal
    training_hours: Decimal | None = None
    month: dt.date | None = None
    lot_number: int | None = None
    market_reference: str | None = None


@dataclass(frozen=True)
class Understanding:
    """Either the drafts (one per person, in the order typed) or why nothing was understood."""

    drafts: tuple[ShortcutDraft, ...] = ()
    refusal: str | None = None


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class _Amount:
    value: Decimal
    bare: bool
    label: str | None = None  # "work" | "training" | "dont"
    part_label: str | None = None


def _cut(text: str, match: re.Match[str]) -> str:
    return text[: match.start()] + " " + text[match.end():]


def _hours_value(match: re.Match[str]) -> Decimal:
    raw = match["num"]
    if match["neg"]:
        raise _Refused(
            f"« {match.group(0).strip()} » : un nombre d'heures ne peut pas être négatif. "
            "Écrivez le nombre d'heures faites, par exemple « 35h »."
        )
    value = Decimal(raw.replace(",", "."))
    if match["min"] or match["smin"]:
        minutes = int(match["min"] or match["smin"])
        if minutes >= 60 or "." in raw or "," in raw:
            raise _Refused(
                f"« {match.group(0).strip()} » : les minutes doivent être entre 0 et 59 "
                "(par exemple « 35h30 » pour 35 heures et demie)."
            )
        value += Decimal(minutes) / Decimal(60)
    value = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if value > MAX_MONTH_HOURS:
        raise _Refused(
            f"« {match.group(0).strip()} » : plus d'heures qu'un mois n'en compte "
            f"({fr_hours(MAX_MONTH_HOURS)}). Vérifiez le nombre."
        )
    return value


def _months(text: str, today: dt.date) -> tuple[str, list[dt.date]]:
    """The months named in a part (removed from the text)."""
    found: list[dt.date] = []
    previous = add_months(month_start(today), -1)
    while match := _RELATIVE_MONTH.search(text):
        found.append(previous if match.group(1) else month_start(today))
        text = _cut(text, match)
    if match := _FULL_DATE.search(text):
        raise _Refused(f"« {match.group(0).strip()} » est une date : on déclare un mois entier. "
                       "Écrivez le mois, par exemple « 11/2026 » ou « novembre ».")
    while match := _NUMERIC_MONTH.search(text):
        month_text = (f"{match[1]}/{match[2] or match[3]}" if match[1] else f"{match[4]}-{match[5]}")
        try:
            month = parse_month(month_text, today=today)
        except DomainError as err:
            raise _Refused(f"« {match.group(0).strip()} » : ce mois n'existe pas. "
                           "Écrivez par exemple « 11/2026 » ou « novembre ».") from err
        if not today.year - OLDEST_YEARS <= month.year <= today.year + 1:
            # « le 12/11 » is a day, not December 2011: never a month that far back
            raise _Refused(f"« {match.group(0).strip()} » : {fr_month(month)} ? Écrivez le mois "
                           f"et l'année, par exemple « {today:%m/%Y} ».")
        found.append(month)
        text = _cut(text, match)
    while match := _MONTH_NUMBER.search(text):
        number = int(match[1])
        if not 1 <= number <= 12:
            raise _Refused(f"« {match.group(0).strip()} » : ce mois n'existe pas.")
        year = today.year if number <= today.month else today.year - 1
        found.append(dt.date(year, number, 1))
        text = _cut(text, match)
    while match := _MONTH_WORD.search(text):
        found.append(parse_month(match.group(0), today=today))
        text = _cut(text, match)
    return text, found


_NOT_HOURS = re.compile(r"^\s*(?:jours?|j|semaines?|sem|mois|ans?|euros?|eur|€|%)(?![a-z])")


def _label_amounts(text: str) -> list[_Amount]:
    """The amounts of a part, each with the word that says what it counts."""
    matches = list(_AMOUNT.finditer(text))
    for match in matches:
        if match["unit"] is None and (unit := _NOT_HOURS.match(text[match.end():])):
            raise _Refused(f"« {match.group(0).strip()} {unit.group(0).strip()} » : indiquez le "
                           "nombre d'heures, par exemple « 35h ».")
    amounts: list[_Amount] = []
    afters: list[str | None] = []
    befores: list[str | None] = []
    for i, match in enumerate(matches):
        amounts.append(_Amount(_hours_value(match), bare=match["unit"] is None))
        tail_end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        after = _AFTER_LABEL.match(text[match.end():tail_end])
        afters.append(None if after is None else ("training" if after["training"] else "work"))
        head_start = matches[i - 1].end() if i else 0
        head = text[head_start:match.start()]
        before = _BEFORE_LABEL.search(head)
        label = None if before is None else next(k for k, v in before.groupdict().items() if v)
        if label != "dont" and re.search(r"\bdont\b", head):  # « 35h dont formation 7h »
            if label is not None and afters[-1] is None:
                afters[-1] = label
            label = "dont"
        befores.append(label)
    # Style: « 7h formation 28h travail » labels by the word after when the last amount has one;
    # « 151,67 h formation 7h » labels by the word before.
    suffix_style = bool(afters) and afters[-1] is not None
    for amount, after_label, before_label in zip(amounts, afters, befores, strict=True):
        if before_label == "dont":
            amount.label = "dont"
            amount.part_label = after_label
        elif suffix_style:
            amount.label = after_label
        else:
            amount.label = before_label
    return amounts


def _hours(amounts: list[_Amount], part: str) -> tuple[Decimal, Decimal | None]:
    """(work, training) from the amounts of one person's part."""
    if not amounts:
        raise _Refused(f"Je ne trouve pas le nombre d'heures pour « {part} ». "
                       "Écrivez par exemple « Dupont Marie 35h novembre ».")
    unit_amounts = [a for a in amounts if not a.bare]
    stray = [a for a in amounts if a.bare and a.label is None] if unit_amounts else []
    if stray:
        raise _Refused(f"Je ne sais pas ce que représente « {stray[0].value.normalize():f} » "
                       f"dans « {part} ». Écrivez les heures avec « h », par exemple « 35h ».")
    after_dont = False
    for a in amounts:  # « 35h dont 28h de travail et 7h de formation »: both are parts
        if a.label == "dont":
            after_dont = True
        elif after_dont and a.label is not None:
            a.part_label, a.label = a.label, "dont"
    dont = [a for a in amounts if a.label == "dont"]
    if dont:
        totals = [a for a in amounts if a.label is None]
        if len(totals) != 1 or amounts[0] is not totals[0]:
            raise _Refused(f"« {part} » : « dont » doit suivre le total des heures, par exemple "
                           "« 35h dont 7h de formation ».")
        total = totals[0].value
        training = sum((a.value for a in dont if a.part_label == "training"), Decimal(0))
        work_parts = [a for a in dont if a.part_label == "work"]
        if any(a.part_label is None for a in dont):
            raise _Refused(f"« {part} » : dites de quoi sont les heures après « dont », par "
                           "exemple « 35h dont 7h de formation ».")
        if work_parts:
            work = sum((a.value for a in work_parts), Decimal(0))
            if any(a.part_label == "training" for a in dont) and work + training != total:
                raise _Refused(f"« {part} » : {fr_hours(work)} de travail et {fr_hours(training)} "
                               f"de formation ne font pas {fr_hours(total)}.")
            training = total - work
        if training > total:
            raise _Refused(f"« {part} » : les heures de formation ({fr_hours(training)}) dépassent "
                           f"le total ({fr_hours(total)}).")
        return total - training, training
    work_list = [a for a in amounts if a.label == "work"]
    training_list = [a for a in amounts if a.label == "training"]
    plain = [a for a in amounts if a.label is None]
    if len(work_list) > 1 or len(training_list) > 1 or len(plain) > 1 or (plain and work_list):
        raise _Refused(f"« {part} » contient plusieurs nombres d'heures de travail : écrivez-en "
                       "un seul par personne, et « dont 7h de formation » pour la formation.")
    work_amount = next(iter(work_list or plain), None)
    training_hours = training_list[0].value if training_list else None
    return (work_amount.value if work_amount else Decimal(0)), training_hours


def _parse_part(text: str, today: dt.date) -> dict:
    original = text.strip(" :.-")
    market = None
    if match := _MARKET_WORD.search(text):
        market = match[1]
        text = _cut(text, match)
    text, months = _months(text, today)
    if len(set(months)) > 1:
        raise _Refused(f"« {original} » cite plusieurs mois : un seul mois par personne.")
    lot = None
    if match := _LOT.search(text):
        lot = int(match[1])
        text = _cut(text, match)
    if market is None and (match := _MARKET_REF.search(text)):
        market = match[1]
        text = _cut(text, match)
    amounts = _label_amounts(text)
    text = _AMOUNT.sub(" ", text)
    words = [w.strip(".:!?()\"'") for w in re.split(r"[\s,]+", text)]
    names: list[str] = []
    odd: list[str] = []
    for word in words:
        if not word or word in _STOP_WORDS or re.fullmatch(r"(?:de|d'|en)?formations?|form", word):
            continue
        (names if _NAME_WORD.match(word) else odd).append(word)
    return {"text": original, "names": tuple(names), "amounts": amounts, "odd": odd,
            "month": months[0] if months else None, "lot": lot, "market": market}


_NOT_NAMES = _STOP_WORDS | {"dernier", "precedent", "passe", "ci", "janv", "fev", "fevr", "avr",
                            "juil", "sept", "oct", "nov", "dec", "form"}
_WORD = re.compile(r"[a-z][a-z'\-]*")


def _split_people(part: str) -> list[str]:
    """« Dupont 35h Martin 20h »: a new person starts at a name word that follows an amount with
    its unit, when a name came before that amount and an amount comes after the new name."""
    amounts = [m for m in _AMOUNT.finditer(part) if m["unit"]]
    month_words = {m.start() for m in _MONTH_WORD.finditer(part)}
    pieces, start = [], 0
    for i, amount in enumerate(amounts[:-1]):
        if not any(w.group(0) not in _NOT_NAMES for w in _WORD.finditer(part, start, amount.start())):
            continue  # no name yet in this piece
        for word in _WORD.finditer(part, amount.end(), amounts[i + 1].start()):
            if word.group(0) in _NOT_NAMES or word.start() in month_words:
                continue
            pieces.append(part[start:word.start()])
            start = word.start()
            break
    pieces.append(part[start:])
    return [p.strip() for p in pieces if p.strip()]


def understand(text: str, today: dt.date) -> Understanding | None:
    """The drafts of a free-text declaration, a refusal with its reason, or None when the
    message is not a declaration at all (no figure, no month: « bonjour »)."""
    folded = fold(re.sub(r"\s*\n\s*", " ; ", text or ""))  # a line is a part (fold joins lines)
    if len(folded) > MAX_CHARS:
        return None
    folded = re.sub(r"\s[-\u2013\u2014]+\s|(?<!\d)/|/(?!\d)", " ", f" {folded} ").strip()  # « - », « / »
    try:
        raw = [p for p in (s.strip() for s in _SEGMENTS.split(folded)) if p.strip(" :.-")]
        raw = [piece for p in raw for piece in _split_people(p)]
        if not raw:
            return None
        parts = [_parse_part(p, today) for p in raw]
    except _Refused as refused:
        return Understanding(refusal=refused.reason)
    if not any(p["amounts"] or p["month"] for p in parts):
        return None
    odd = next((p for p in parts if p["odd"]), None)
    if odd is not None:
        return Understanding(refusal=f"Je ne comprends pas « {odd['odd'][0]} » dans "
                                     f"« {odd['text']} ».")
    # « Dupont, Marie : 35h »: a piece that is only a name, followed by another named piece,
    # is the same person (at worst the joined name matches nobody and nothing is recorded).
    joined: list[dict] = []
    for part in parts:
        prev = joined[-1] if joined else None
        if (prev is not None and prev["names"] and not prev["amounts"] and not prev["month"]
                and prev["lot"] is None and part["names"]):
            part = {**part, "names": prev["names"] + part["names"],
                    "text": f"{prev['text']}, {part['text']}", "odd": prev["odd"] + part["odd"]}
            joined[-1] = part
        else:
            joined.append(part)
    parts = joined
    # Pieces without a name (« 7h de formation », « novembre ») belong to the person before.
    people: list[dict] = []
    pending: list[dict] = []
    for part in parts:
        if not part["names"]:
            (people[-1]["extra"] if people else pending).append(part)
            continue
        part["extra"] = pending
        pending = []
        people.append(part)
    if not people:
        if not any(p["month"] or any(not a.bare for a in p["amounts"]) for p in parts):
            return None  # a lone number (« 1 »): an answer to nothing, not a declaration
        return Understanding(refusal="Je ne trouve pas le nom de la personne. Écrivez par exemple "
                                     "« Dupont Marie 35h novembre ».")
    if pending:
        people[-1]["extra"] += pending
    try:
        months = {p["month"] for p in parts if p["month"]}
        lots = {p["lot"] for p in parts if p["lot"] is not None}
        drafts: list[ShortcutDraft] = []
        for person in people:
            pieces = [person, *person["extra"]]
            amounts = [a for p in pieces for a in p["amounts"]]
            own_months = {p["month"] for p in pieces if p["month"]}
            if len(own_months) > 1:
                raise _Refused(f"Plusieurs mois pour « {' '.join(person['names'])} » : "
                               "un seul mois par personne.")
            own_lots = {p["lot"] for p in pieces if p["lot"] is not None}
            month = next(iter(own_months), None) or (next(iter(months)) if len(months) == 1 else None)
            lot = next(iter(own_lots), None)
            if lot is None and len(lots) == 1:
                lot = next(iter(lots))
            work, training = _hours(amounts, " ".join(p["text"] for p in pieces))
            market = next((p["market"] for p in pieces if p["market"]), None)
            drafts.append(ShortcutDraft(names=person["names"], work_hours=work,
                                        training_hours=training, month=month, lot_number=lot,
                                        market_reference=market))
        seen = [d.names for d in drafts]
        twice = next((n for n in seen if seen.count(n) > 1), None)
        if twice:
            raise _Refused(f"« {' '.join(twice)} » apparaît deux fois : une ligne par personne.")
    except _Refused as refused:
        return Understanding(refusal=refused.reason)
    return Understanding(drafts=tuple(drafts))


def parse_shortcut(text: str, today: dt.date) -> ShortcutDraft | None:
    """The one person's draft of a message, or None (not understood, or several people)."""
    result = understand(text, today)
    if result is None or result.refusal or len(result.drafts) != 1:
        return None
    return result.drafts[0]


def name_matches(names: tuple[str, ...], participant_name: str) -> bool:
    """Every typed word is a word of the person's names (any order, accents ignored)."""
    words = set(re.split(r"[\s]+", fold(participant_name)))
    return all(n in words for n in names)


def suggest_names(names: tuple[str, ...], candidates: list[str], limit: int = 3) -> list[str]:
    """The company's people whose name is close to what was typed (a typo): difflib's ratio
    on each typed word against each word of a name, then the whole name."""
    typed = " ".join(names)
    scored: list[tuple[float, str]] = []
    for candidate in dict.fromkeys(candidates):
        words = fold(candidate).split()
        per_word = [max((difflib.SequenceMatcher(None, n, w).ratio() for w in words), default=0)
                    for n in names]
        whole = difflib.SequenceMatcher(None, typed, " ".join(sorted(words))).ratio()
        score = max(min(per_word, default=0), whole)
        if score >= 0.75:
            scored.append((score, candidate))
    return [c for _, c in sorted(scored, key=lambda s: -s[0])[:limit]]
