"""What a message asks for: a declaration, a candidature, a report, the template, or something else.

Only the subject and the sender's own text count (quoted history is cut), so a reply to one of
our acknowledgements is not taken for a new request. Anything not recognised with confidence is
`OTHER` and goes to a facilitator: a human reading one e-mail is cheap, a wrong automatic
action is not.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum

from mail.parsing import Attachment, ParsedMail

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CV_MIMES = frozenset({
    "application/pdf", "image/png", "image/jpeg",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
})


class Intent(StrEnum):
    DECLARATION = "declaration"
    CANDIDATURE = "candidature"
    BILAN = "bilan"
    POINT_MARCHE = "point_marche"
    TEMPLATE = "modele"
    OTHER = "autre"


@dataclass
class Classified:
    intent: Intent
    year: int | None = None
    market_reference: str | None = None
    spreadsheets: list[tuple[Attachment, str]] = field(default_factory=list)
    cv: Attachment | None = None
    fresh_text: str = ""


def unaccent(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if not unicodedata.combining(ch)).replace("\u2019", "'")


_QUOTE_START = re.compile(
    r"^(?:>|-{2,}\s*(?:original|message d'origine|forwarded|message transf)|"
    r"le .{3,80} a [ée]crit ?:|on .{3,80} wrote:|de ?: .+@|from: .+@)",
    re.IGNORECASE,
)


def fresh_text(text: str) -> str:
    """The sender's own words: everything before the first quoted block or forwarded header."""
    out = []
    for line in text.splitlines():
        if _QUOTE_START.match(line.strip()):
            break
        out.append(line)
    return "\n".join(out).strip()


def spreadsheet_kind(att: Attachment) -> str | None:
    """"xlsx" or "csv" when the attachment is a declaration file candidate."""
    if att.sniffed == XLSX or att.extension in ("xlsx", "xlsm"):
        return "xlsx"
    if att.extension == "csv" or att.content_type in ("text/csv", "application/csv"):
        return "csv"
    return None


_REF = r"(?:n[°o]?\s*)?((?=[\w/.-]*\d)[0-9A-Z][\w/.-]{1,40}\w)"
_POINT = re.compile(
    r"\b(?:point\s+d'etape|point|bilan(?:\s+final)?)\s+(?:du\s+|sur\s+le\s+|pour\s+le\s+)?"
    r"march[e]\s+" + _REF + r"|\bpoint\s+d'etape\s+(?:du\s+|sur\s+le\s+|pour\s+le\s+)?" + _REF,
    re.IGNORECASE,
)
_BILAN = re.compile(r"\bbilan(?:\s+annuel)?\s+(?:de\s+l'annee\s+|pour\s+|de\s+|)(\d{4})\b", re.IGNORECASE)
_TEMPLATE = re.compile(r"\bmod[e]le\b.*\bdeclaration|\bdeclaration\b.*\bmod[e]le\b", re.IGNORECASE)
_TEMPLATE_ASK = re.compile(
    r"\b(?:envoy\w*|transmet\w*|renvoy\w*|fai\w+ parvenir|recevoir|avoir|obtenir|besoin d[ue]|"
    r"ou trouver|je cherche|quel est)\b.{0,60}\b(?:mod[e]le|template|fichier[- ]type|tableau[- ]type|trame|"
    r"formulaire)\b", re.IGNORECASE | re.DOTALL)
_COMPLAINT = re.compile(
    r"\b(?:erreur|errone|faux|fausse|pas normal|inadmissible|reclamation|mecontent|plainte|"
    r"incomprehensible|ne fonctionne pas|ne marche pas|probleme|conteste|contestons)\b", re.IGNORECASE)
"""Template requests are sent the template only when they ask for it in so many words; a
question (« faut-il les déclarer à part ? ») or a complaint about declaring goes to a person."""


def classify(parsed: ParsedMail) -> Classified:
    own = fresh_text(parsed.text)
    head = unaccent(parsed.subject + "\n" + own[:3000])
    sheets = [(a, k) for a in parsed.attachments if (k := spreadsheet_kind(a))]
    if sheets:
        return Classified(Intent.DECLARATION, spreadsheets=sheets, fresh_text=own)
    match = _POINT.search(head)
    reference = match and (match.group(1) or match.group(2))
    if reference and re.search(r"\d", reference):
        return Classified(Intent.POINT_MARCHE, market_reference=reference.rstrip(".,"), fresh_text=own)
    match = _BILAN.search(head)
    if match:
        return Classified(Intent.BILAN, year=int(match.group(1)), fresh_text=own)
    asked = _TEMPLATE_ASK.search(head) or (_TEMPLATE.search(head) and "?" not in head)
    if asked and not _COMPLAINT.search(head):
        return Classified(Intent.TEMPLATE, fresh_text=own)
    cvs = [a for a in parsed.attachments if a.sniffed in CV_MIMES and not (a.inline and a.sniffed.startswith("image/"))]
    lowered = head.lower()
    if "candidat" in lowered or (cvs and re.search(r"\bcv\b", lowered)):
        return Classified(Intent.CANDIDATURE, cv=cvs[0] if cvs else None, fresh_text=own)
    return Classified(Intent.OTHER, fresh_text=own)
