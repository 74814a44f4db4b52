"""Turn raw RFC 5322 bytes into a `ParsedMail`, whatever the sender's software did to them.

Why so defensive: the intake must never stop on one message. Real mail carries undeclared or
wrong charsets (windows-1252 labelled as UTF-8 or ISO-8859-1), raw 8-bit headers, HTML-only
bodies, broken MIME trees and Outlook's winmail.dat. Parsing never raises: problems become
`defects`, and a structure too broken to trust sets `fatal` so the message goes to quarantine.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from email import errors as email_errors
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser
from typing import Any

from storage.documents import clean_display_name, sniff_mime

#: Structural defects after which the parts cannot be trusted to be what they seem.
FATAL_DEFECTS: tuple[type[email_errors.MessageDefect], ...] = (
    email_errors.NoBoundaryInMultipartDefect,
    email_errors.StartBoundaryNotFoundDefect,
    email_errors.MultipartInvariantViolationDefect,
)

TNEF_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})
MAX_TEXT_CHARS = 200_000


@dataclass
class Attachment:
    """One attached file. `filename` is a cleaned label; `raw_filename` is never a path."""

    raw_filename: str | None
    filename: str | None
    content_type: str
    data: bytes
    sniffed: str
    inline: bool = False
    decode_error: bool = False

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def extension(self) -> str:
        name = (self.filename or "").lower()
        return name.rsplit(".", 1)[-1] if "." in name else ""


@dataclass
class ParsedMail:
    raw_size: int
    sha256: str
    message_id: str | None = None
    from_address: str | None = None
    from_name: str = ""
    reply_to: str | None = None
    to_addresses: list[str] = field(default_factory=list)
    subject: str = ""
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    text: str = ""
    html_text: str = ""
    """The HTML alternative as text (table cells separated by « | »), even beside a plain
    part: mail clients flatten tables badly in the plain part, a candidature's table is read here."""
    html_only: bool = False
    attachments: list[Attachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    fatal: str | None = None
    auto_submitted: bool = False
    is_bounce: bool = False
    tnef: bool = False
    authentication_results: list[str] = field(default_factory=list)
    headers_only: bool = False

    @property
    def dedup_id(self) -> str:
        """Message-ID, or a content hash when the sender set none (still stable on refetch)."""
        return (self.message_id or f"sha256:{self.sha256}")[:250]

    @property
    def from_domain(self) -> str:
        return (self.from_address or "").rpartition("@")[2]


# -- text helpers ------------------------------------------------------------------------------

def _fix_surrogates(text: str) -> str:
    """Raw 8-bit header bytes arrive as surrogate escapes: decode them as UTF-8, else cp1252."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    data = text.encode("utf-8", "surrogateescape")
    return decode_bytes(data, None)


def decode_bytes(data: bytes, declared: str | None) -> str:
    """Bytes to text trying the declared charset, then UTF-8, then windows-1252, then Latin-1.

    ISO-8859-1 and US-ASCII labels are read as windows-1252: mail clients routinely label
    cp1252 text (curly quotes, the euro sign) as Latin-1, and cp1252 is a superset of its
    printable range. An unknown label (`x-unknown`, a typo) is skipped rather than fatal.
    """
    candidates: list[str] = []
    if declared:
        label = declared.strip().strip('"').lower()
        if label in {"iso-8859-1", "latin-1", "latin1", "iso8859-1", "us-ascii", "ascii"}:
            label = "cp1252"
        candidates.append(label)
    candidates += ["utf-8", "cp1252"]
    for charset in candidates:
        try:
            return data.decode(charset)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1")


_CELL = "\x1f"


class _HtmlToText(HTMLParser):
    _BLOCK = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "table", "ul", "ol",
                        "blockquote", "section", "article", "header", "footer"})
    _SKIP = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(_CELL)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skip:
            self._skip -= 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Readable text from an HTML body (no external dependency, scripts and styles dropped)."""
    parser = _HtmlToText()
    try:
        parser.feed(html[:MAX_TEXT_CHARS * 2])
        parser.close()
    except Exception:  # HTMLParser is lenient, but never let a body stop the intake
        return re.sub(r"<[^>]+>", " ", html)
    text = "".join(parser.parts).replace("\xa0", " ")
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines()]
    lines = [re.sub(r"\s*\x1f\s*", " | ", line).strip(" |") if _CELL in line else line for line in lines]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# -- header helpers ----------------------------------------------------------------------------

def _raw_header(msg: Message, name: str) -> str | None:
    wanted = name.lower()
    for key, value in msg.raw_items():
        if key.lower() == wanted:
            return value if isinstance(value, str) else None
    return None


def _decode_words(text: str) -> str:
    if "=?" not in text:
        return text
    try:
        return str(make_header(decode_header(text)))
    except Exception:
        return text


def _header(msg: Message, name: str) -> str:
    """A header as text. Raw 8-bit headers (not RFC 2047) are decoded as UTF-8 or cp1252
    from the source bytes: the default policy would turn them into U+FFFD."""
    try:
        raw = _raw_header(msg, name)
    except Exception:
        raw = None
    if raw is not None and any("\udc80" <= ch <= "\udcff" for ch in raw):
        return " ".join(_decode_words(_fix_surrogates(raw)).split())
    try:
        value = msg.get(name)
    except Exception:
        return ""
    if value is None:
        return ""
    try:
        text = str(value)
    except Exception:
        return ""
    return _fix_surrogates(" ".join(text.split()))


def _all_headers(msg: Message, name: str) -> list[str]:
    try:
        values = msg.get_all(name) or []
    except Exception:
        return []
    out = []
    for v in values:
        try:
            out.append(_fix_surrogates(" ".join(str(v).split())))
        except Exception:
            continue
    return out


def _address(msg: Message, name: str) -> tuple[str, str | None]:
    raw = _header(msg, name)
    if not raw:
        return "", None
    display, addr = parseaddr(raw)
    addr = addr.strip().lower()
    if not addr or "@" not in addr or any(ch in addr for ch in " \r\n<>\"',;"):
        return display, None
    return display, addr[:254]


def _msgids(text: str) -> list[str]:
    return re.findall(r"<[^<>\s]{1,245}>", text or "")


# -- the parser ----------------------------------------------------------------------------------

class _HeadersParsedOnce(email.policy.EmailPolicy):
    """``email.policy.default`` whose header objects are built once per message.

    Why: the default policy builds a new header object, through its full RFC 5322 parser, every
    time a header is read, and the parser and this module read Content-Type, -Disposition and
    -Transfer-Encoding many times per part (25 header parses an e-mail, 16 % of the intake's
    time in the bench's mix). Header objects are immutable, so one per (name, value) is reused;
    one instance per message (:func:`parse_message`), so nothing outlives it.
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        object.__setattr__(self, "_parsed", {})

    def header_fetch_parse(self, name: str, value: str) -> str:
        if hasattr(value, "name"):
            return value
        parsed: dict[tuple[str, str], str] = self._parsed  # type: ignore[attr-defined]
        key = (name, value)
        header = parsed.get(key)
        if header is None:
            header = parsed[key] = super().header_fetch_parse(name, value)
        return header


def _is_attachment(part: Message) -> bool:
    try:
        disposition = (part.get_content_disposition() or "").lower()
    except Exception:
        disposition = ""
    filename = None
    try:
        filename = part.get_filename()
    except Exception:
        filename = None
    if disposition == "attachment" or filename:
        return True
    return part.get_content_type() not in ("text/plain", "text/html")


def parse_message(raw: bytes, *, headers_only: bool = False) -> ParsedMail:
    """Parse `raw`; never raises. `headers_only` marks a message whose body was not fetched."""
    parsed = ParsedMail(raw_size=len(raw), sha256=hashlib.sha256(raw).hexdigest(),
                        headers_only=headers_only)
    try:
        msg = email.message_from_bytes(raw, policy=_HeadersParsedOnce())
    except Exception as exc:  # pragma: no cover - the parser is built to be lenient
        parsed.fatal = f"unparseable: {exc.__class__.__name__}"
        return parsed

    parsed.message_id = next(iter(_msgids(_header(msg, "Message-ID"))), None)
    parsed.from_name, parsed.from_address = _address(msg, "From")
    _, parsed.reply_to = _address(msg, "Reply-To")
    try:
        parsed.to_addresses = [a.lower() for _, a in getaddresses(_all_headers(msg, "To")) if a]
    except Exception:
        parsed.to_addresses = []
    parsed.subject = _header(msg, "Subject")[:300]
    parsed.in_reply_to = next(iter(_msgids(_header(msg, "In-Reply-To"))), None)
    parsed.references = _msgids(_header(msg, "References"))[-20:]
    parsed.authentication_results = _all_headers(msg, "Authentication-Results")

    auto = _header(msg, "Auto-Submitted").lower()
    precedence = _header(msg, "Precedence").lower()
    parsed.auto_submitted = bool(
        (auto and auto != "no")
        or precedence in {"bulk", "junk", "list", "auto_reply"}
        or _header(msg, "List-Id")
        or _header(msg, "X-Autoreply")
        or _header(msg, "X-Autorespond")
    )
    sender_local = (parsed.from_address or "").partition("@")[0]
    parsed.is_bounce = (
        msg.get_content_type() == "multipart/report"
        or sender_local in {"mailer-daemon", "postmaster"}
        or _header(msg, "Return-Path") == "<>"
    )
    if parsed.is_bounce:
        parsed.auto_submitted = True

    if parsed.from_address is None:
        parsed.defects.append("no_from")
    if headers_only:
        return parsed

    _walk(msg, parsed)
    return parsed


def _walk(msg: Message, parsed: ParsedMail) -> None:
    plain: list[str] = []
    html: list[str] = []
    try:
        parts = list(msg.walk())
    except Exception as exc:
        parsed.fatal = f"mime_walk: {exc.__class__.__name__}"
        return
    for part in parts:
        for defect in getattr(part, "defects", []) or []:
            parsed.defects.append(type(defect).__name__)
            if isinstance(defect, FATAL_DEFECTS) and parsed.fatal is None:
                parsed.fatal = type(defect).__name__
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            continue
        try:
            payload = part.get_payload(decode=True)
        except Exception:
            payload = None
            parsed.defects.append("payload_undecodable")
        if payload is None:
            payload = b""
        if _is_attachment(part):
            try:
                raw_name = part.get_filename()
            except Exception:
                raw_name = None
            raw_name = _fix_surrogates(raw_name) if raw_name else None
            if ctype in TNEF_TYPES or (raw_name or "").lower() == "winmail.dat":
                parsed.tnef = True
            parsed.attachments.append(
                Attachment(
                    raw_filename=raw_name,
                    filename=clean_display_name(raw_name),
                    content_type=ctype,
                    data=bytes(payload),
                    sniffed=sniff_mime(bytes(payload)),
                    inline=(part.get_content_disposition() == "inline"),
                )
            )
            continue
        text = decode_bytes(bytes(payload), part.get_content_charset())
        (plain if ctype == "text/plain" else html).append(text)
    # NFC: names written with decomposed accents (macOS) must match the same names stored
    # composed, as the chat's text is (bot.messages.clean_text).
    if plain:
        parsed.text = unicodedata.normalize("NFC", "\n".join(plain))[:MAX_TEXT_CHARS]
    if html:
        parsed.html_text = unicodedata.normalize("NFC", html_to_text("\n".join(html)))[:MAX_TEXT_CHARS]
    if html and not plain:
        parsed.html_only = True
        parsed.text = parsed.html_text
    if msg.get_content_maintype() == "multipart" and not parts[1:] and parsed.fatal is None:
        parsed.fatal = "empty_multipart"
