"""Telegram text formatting and keyboard checks for the local Bot API test server.

Why: the real Bot API rejects malformed HTML/MarkdownV2 ("can't parse entities"), oversized
callback data and malformed keyboards with a 400. Those errors only show in production unless
the test server enforces the same rules, so this module mirrors Telegram's (tdlib's) parsers
closely enough: it returns the plain text and the entities (UTF-16 offsets) the Bot API would
return, or raises ``ApiError`` with Telegram's wording.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import Any


class ApiError(Exception):
    """An error answer of the Bot API: ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(
        self, code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: the unit of Telegram entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


class _Builder:
    """Accumulates plain text and entities while a parser walks the marked-up source."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.offset = 0
        self.entities: list[dict[str, Any]] = []

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.offset += utf16_len(text)

    def entity(self, kind: str, start: int, **extra: Any) -> None:
        length = self.offset - start
        if length > 0:
            self.entities.append({"type": kind, "offset": start, "length": length, **extra})

    def result(self) -> tuple[str, list[dict[str, Any]]]:
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), self.entities


def _cant_parse(detail: str) -> ApiError:
    return bad_request(f"can't parse entities: {detail}")


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------
_HTML_TAGS = {
    "a": "text_link",
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(#x[0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);")


def _decode_entity(text: str, index: int) -> tuple[str, int] | None:
    match = _ENTITY_RE.match(text, index)
    if not match:
        return None
    name = match.group(1)
    if name.startswith("#x") or name.startswith("#X"):
        value = chr(int(name[2:], 16))
    elif name.startswith("#"):
        value = chr(int(name[1:]))
    elif name in _NAMED_ENTITIES:
        value = _NAMED_ENTITIES[name]
    else:
        return None  # Telegram keeps unknown "&name;" as literal text
    return value, match.end() - index


@dataclass
class _OpenTag:
    name: str
    attrs: dict[str, str]
    start: int


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram-flavoured HTML; raise ``ApiError`` like the Bot API on bad markup."""
    out = _Builder()
    stack: list[_OpenTag] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "&":
            decoded = _decode_entity(text, i)
            if decoded:
                out.add(decoded[0])
                i += decoded[1]
            else:
                out.add("&")
                i += 1
            continue
        if char != "<":
            out.add(char)
            i += 1
            continue
        begin = _byte_offset(text, i)
        i += 1
        if i < n and text[i] == "/":
            if not stack:
                raise _cant_parse(f"Unexpected end tag at byte offset {begin}")
            j = i + 1
            while j < n and text[j] not in "> \t\r\n":
                j += 1
            end_name = text[i + 1 : j].lower()
            while j < n and text[j] in " \t\r\n":
                j += 1
            if j >= n or text[j] != ">":
                raise _cant_parse(f"Unclosed end tag at byte offset {begin}")
            top = stack[-1]
            if end_name and end_name != top.name:
                raise _cant_parse(
                    f'Unmatched end tag at byte offset {begin}, expected "</{top.name}>", '
                    f'found "</{end_name}>"'
                )
            stack.pop()
            _close_html_entity(out, top, stack)
            i = j + 1
            continue
        j = i
        while j < n and text[j] not in "> \t\r\n":
            j += 1
        name = text[i:j].lower()
        if name not in _HTML_TAGS:
            raise _cant_parse(f'Unsupported start tag "{name}" at byte offset {begin}')
        attrs, i = _parse_attributes(text, j, name, begin)
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise _cant_parse(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
        stack.append(_OpenTag(name, attrs, out.offset))
    if stack:
        raise _cant_parse(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    return out.result()


def _parse_attributes(text: str, index: int, tag: str, begin: int) -> tuple[dict[str, str], int]:
    attrs: dict[str, str] = {}
    n = len(text)
    i = index
    while True:
        while i < n and text[i] in " \t\r\n":
            i += 1
        if i >= n:
            raise _cant_parse(f"Unclosed start tag at byte offset {begin}")
        if text[i] == ">":
            return attrs, i + 1
        j = i
        while j < n and text[j] not in "= \t\r\n>":
            j += 1
        attr = text[i:j].lower()
        if not attr:
            raise _cant_parse(f'Empty attribute name in the tag "{tag}" at byte offset {begin}')
        while j < n and text[j] in " \t\r\n":
            j += 1
        if j >= n or text[j] != "=":
            if j < n and (text[j] == ">" or attr == "expandable"):
                attrs[attr] = ""
                i = j
                continue
            raise _cant_parse(
                f'Expected equal sign in declaration of an attribute of the tag "{tag}" at byte offset {begin}'
            )
        j += 1
        while j < n and text[j] in " \t\r\n":
            j += 1
        if j < n and text[j] in "'\"":
            quote = text[j]
            end = text.find(quote, j + 1)
            if end < 0:
                raise _cant_parse(f"Unclosed start tag at byte offset {begin}")
            value, i = text[j + 1 : end], end + 1
        else:
            end = j
            while end < n and text[end] not in " \t\r\n>":
                end += 1
            value, i = text[j:end], end
        attrs[attr] = html.unescape(value)


def _close_html_entity(out: _Builder, tag: _OpenTag, stack: list[_OpenTag]) -> None:
    kind = _HTML_TAGS[tag.name]
    if kind == "text_link":
        href = tag.attrs.get("href", "")
        if href:
            out.entity("text_link", tag.start, url=href)
        return
    if kind == "custom_emoji":
        emoji_id = tag.attrs.get("emoji-id", "")
        if not emoji_id.isdigit():
            raise _cant_parse("Custom emoji entity must contain a tg://emoji URL")
        out.entity("custom_emoji", tag.start, custom_emoji_id=emoji_id)
        return
    if kind == "blockquote" and "expandable" in tag.attrs:
        kind = "expandable_blockquote"
    if kind == "code" and stack and stack[-1].name == "pre":
        language = tag.attrs.get("class", "")
        if language.startswith("language-"):
            stack[-1].attrs["_language"] = language.removeprefix("language-")
            return
    if kind == "pre" and tag.attrs.get("_language"):
        out.entity("pre", tag.start, language=tag.attrs["_language"])
        return
    out.entity(kind, tag.start)


# --------------------------------------------------------------------------------------------
# MarkdownV2
# --------------------------------------------------------------------------------------------
_V2_RESERVED = "_*[]()~`>#+-=|{}.!"
_V2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
    "code": "Code",
    "pre": "Pre",
}


@dataclass
class _OpenV2:
    kind: str
    start: int
    begin_byte: int
    language: str = ""


def parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse MarkdownV2; every reserved character outside an entity must be escaped."""
    out = _Builder()
    stack: list[_OpenV2] = []
    quote_start: int | None = None
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            out.add(text[i + 1])
            i += 2
            continue
        top = stack[-1] if stack else None
        if top is not None and top.kind in ("code", "pre"):
            closes = (top.kind == "code" and char == "`") or (
                top.kind == "pre" and text.startswith("```", i)
            )
            if closes:
                stack.pop()
                extra = {"language": top.language} if top.language else {}
                out.entity(top.kind, top.start, **extra)
                i += 1 if top.kind == "code" else 3
            else:
                out.add(char)
                i += 1
            continue
        if char == "\n" and quote_start is not None and not text.startswith(">", i + 1):
            out.entity("blockquote", quote_start)
            quote_start = None
        if top is not None and _v2_closes(top.kind, text, i):
            stack.pop()
            i = _v2_close(out, top, text, i)
            continue
        if char not in _V2_RESERVED:
            out.add(char)
            i += 1
            continue
        begin = _byte_offset(text, i)
        if char == ">" and (i == 0 or text[i - 1] == "\n"):
            if quote_start is None:
                quote_start = out.offset
            i += 1
            continue
        if char == "_":
            kind, width = ("underline", 2) if text.startswith("__", i) else ("italic", 1)
        elif char == "*":
            kind, width = "bold", 1
        elif char == "~":
            kind, width = "strikethrough", 1
        elif char == "|" and text.startswith("||", i):
            kind, width = "spoiler", 2
        elif char == "[":
            kind, width = "text_link", 1
        elif char == "!" and text.startswith("![", i):
            kind, width = "custom_emoji", 2
        elif char == "`":
            kind, width = ("pre", 3) if text.startswith("```", i) else ("code", 1)
        else:
            raise _cant_parse(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        opened = _OpenV2(kind, out.offset, begin)
        i += width
        if kind == "pre":
            newline = text.find("\n", i)
            first_line = text[i:newline] if newline >= 0 else ""
            if newline >= 0 and first_line and " " not in first_line and "`" not in first_line:
                opened.language = first_line
                i = newline + 1
            elif newline == i:
                i += 1
        stack.append(opened)
    if quote_start is not None:
        out.entity("blockquote", quote_start)
    if stack:
        top = stack[-1]
        raise _cant_parse(
            f"Can't find end of {_V2_NAMES[top.kind]} entity at byte offset {top.begin_byte}"
        )
    return out.result()


def _v2_closes(kind: str, text: str, i: int) -> bool:
    char = text[i]
    if kind == "bold":
        return char == "*"
    if kind == "italic":
        return char == "_" and not text.startswith("__", i)
    if kind == "underline":
        return text.startswith("__", i)
    if kind == "strikethrough":
        return char == "~"
    if kind == "spoiler":
        return text.startswith("||", i)
    if kind in ("text_link", "custom_emoji"):
        return char == "]"
    return False


def _v2_close(out: _Builder, top: _OpenV2, text: str, i: int) -> int:
    """Close ``top`` at ``text[i]``; return the index after the closing delimiter (and URL)."""
    if top.kind in ("text_link", "custom_emoji"):
        i += 1
        url = ""
        if i < len(text) and text[i] == "(":
            j = i + 1
            chars: list[str] = []
            while j < len(text) and text[j] != ")":
                if text[j] == "\\" and j + 1 < len(text):
                    j += 1
                chars.append(text[j])
                j += 1
            if j >= len(text):
                raise _cant_parse(f"Can't find end of a URL at byte offset {_byte_offset(text, i)}")
            url = "".join(chars)
            i = j + 1
        if top.kind == "custom_emoji":
            emoji_id = url.removeprefix("tg://emoji?id=")
            if not emoji_id.isdigit():
                raise _cant_parse("Custom emoji entity must contain a tg://emoji URL")
            out.entity("custom_emoji", top.start, custom_emoji_id=emoji_id)
        elif url:
            out.entity("text_link", top.start, url=url)
        return i
    width = 2 if top.kind in ("underline", "spoiler") else 1
    out.entity(top.kind, top.start)
    return i + width


# --------------------------------------------------------------------------------------------
# Legacy Markdown
# --------------------------------------------------------------------------------------------
def parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Parse legacy Markdown (no nesting; an unclosed marker is an error)."""
    out = _Builder()
    i, n = 0, len(text)
    kinds = {"*": "bold", "_": "italic", "`": "code"}
    while i < n:
        char = text[i]
        if char == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.add(text[i + 1])
            i += 2
            continue
        if char not in "_*`[":
            out.add(char)
            i += 1
            continue
        begin = _byte_offset(text, i)
        error = _cant_parse(f"Can't find end of the entity starting at byte offset {begin}")
        start = out.offset
        if char == "`" and text.startswith("```", i):
            end = text.find("```", i + 3)
            if end < 0:
                raise error
            out.add(text[i + 3 : end])
            out.entity("pre", start)
            i = end + 3
        elif char == "[":
            end = text.find("]", i + 1)
            if end < 0:
                raise error
            out.add(text[i + 1 : end])
            i = end + 1
            if i < n and text[i] == "(":
                close = text.find(")", i)
                if close < 0:
                    raise error
                out.entity("text_link", start, url=text[i + 1 : close])
                i = close + 1
        else:
            end = text.find(char, i + 1)
            if end < 0:
                raise error
            out.add(text[i + 1 : end])
            out.entity(kinds[char], start)
            i = end + 1
    return out.result()


def parse_text(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    """Apply ``parse_mode`` (case-insensitive, like the Bot API) to ``text``."""
    mode = (parse_mode or "").lower()
    if mode == "":
        return text, []
    if mode == "html":
        return parse_html(text)
    if mode == "markdownv2":
        return parse_markdown_v2(text)
    if mode == "markdown":
        return parse_markdown(text)
    raise bad_request(f"unsupported parse_mode {parse_mode}")


# --------------------------------------------------------------------------------------------
# Keyboards
# --------------------------------------------------------------------------------------------
_INLINE_ACTIONS = (
    "callback_data",
    "url",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
    "web_app",
)


def validate_reply_markup(value: Any) -> dict[str, Any] | None:
    """Check a ``reply_markup`` object like the Bot API; return it as a dict (or None)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise bad_request("can't parse reply keyboard markup JSON object") from exc
    if not isinstance(value, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in value:
        _validate_inline_keyboard(value["inline_keyboard"])
    elif "keyboard" in value:
        rows = value["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request(
                'field "keyboard" of the ReplyKeyboardMarkup must be an Array of Arrays'
            )
        for row in rows:
            for button in row:
                text = (
                    button
                    if isinstance(button, str)
                    else button.get("text")
                    if isinstance(button, dict)
                    else None
                )
                if not isinstance(text, str) or not text:
                    raise bad_request(
                        'can\'t parse keyboard button: Field "text" must be of type String'
                    )
    elif value.get("remove_keyboard") is True or value.get("force_reply") is True:
        pass
    else:
        raise bad_request("can't parse reply keyboard markup JSON object")
    return value


def _validate_inline_keyboard(rows: Any) -> None:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(
            'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
        )
    for row in rows:
        for button in row:
            if not isinstance(button, dict):
                raise bad_request(
                    "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
                )
            text = button.get("text")
            if not isinstance(text, str):
                raise bad_request(
                    'can\'t parse inline keyboard button: Field "text" must be of type String'
                )
            if not text.strip():
                raise bad_request("can't parse inline keyboard button: Text must be non-empty")
            actions = [key for key in _INLINE_ACTIONS if key in button]
            if not actions:
                raise bad_request(
                    "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
                )
            if "callback_data" in button:
                data = button["callback_data"]
                if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64:
                    raise bad_request("BUTTON_DATA_INVALID")
            if "url" in button:
                url = button["url"]
                if not isinstance(url, str) or not re.match(r"^(https?|tg)://\S+$", url):
                    raise bad_request("BUTTON_URL_INVALID")
