"""Request decoding for the local Bot API test server.

Why: the Bot API accepts the same parameters as a query string, a JSON body, a urlencoded form
or multipart (python-telegram-bot sends forms, and multipart when uploading files), and in the
form cases every value is a string. ``Params`` gives typed access whatever the encoding.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.servers.botapi_markup import bad_request


@dataclass(frozen=True)
class Upload:
    filename: str | None
    content_type: str | None
    data: bytes


class Params:
    """Typed access to request parameters, which may arrive as JSON values or as strings."""

    def __init__(self, values: dict[str, Any], files: dict[str, Upload]) -> None:
        self.values = values
        self.files = files

    def raw(self, name: str) -> Any:
        return self.values.get(name)

    def has(self, name: str) -> bool:
        return self.values.get(name) not in (None, "")

    def str_(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name)
        if value is None:
            return default
        return value if isinstance(value, str) else json.dumps(value)

    def int_(self, name: str, default: int | None = None, missing: str | None = None) -> int | None:
        value = self.values.get(name)
        if value in (None, ""):
            if missing:
                raise bad_request(missing)
            return default
        if isinstance(value, bool):
            raise bad_request(f'field "{name}" must be of type Integer')
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise bad_request(f"invalid {name} specified") from exc

    def float_(self, name: str, default: float = 0.0) -> float:
        value = self.values.get(name)
        if value in (None, ""):
            return default
        try:
            return float(value)
        except (TypeError, ValueError) as exc:
            raise bad_request(f"invalid {name} specified") from exc

    def bool_(self, name: str, default: bool = False) -> bool:
        value = self.values.get(name)
        if value in (None, ""):
            return default
        if isinstance(value, bool):
            return value
        return str(value).lower() in {"true", "1"}

    def json_(self, name: str) -> Any:
        value = self.values.get(name)
        if isinstance(value, str):
            if value == "":
                return None
            try:
                return json.loads(value)
            except ValueError as exc:
                raise bad_request(f"can't parse {name} JSON object") from exc
        return value


async def read_params(request: web.Request) -> Params:
    """Decode query string + JSON, urlencoded or multipart body, like the Bot API accepts."""
    values: dict[str, Any] = dict(request.query)
    files: dict[str, Upload] = {}
    ctype = request.content_type
    if request.can_read_body:
        if ctype == "application/json":
            try:
                body = await request.json()
            except ValueError as exc:
                raise bad_request("can't parse JSON request") from exc
            if not isinstance(body, dict):
                raise bad_request("JSON request must be an object")
            values.update(body)
        elif ctype == "multipart/form-data":
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not hasattr(part, "read") or part.name is None:
                    continue
                data = await part.read(decode=True)  # type: ignore[union-attr]
                if part.filename is not None:  # type: ignore[union-attr]
                    files[part.name] = Upload(
                        part.filename,  # type: ignore[union-attr]
                        part.headers.get("Content-Type"),
                        bytes(data),
                    )
                else:
                    values[part.name] = bytes(data).decode("utf-8")
        elif ctype == "application/x-www-form-urlencoded":
            form = await request.post()
            values.update({k: v for k, v in form.items() if isinstance(v, str)})
    return Params(values, files)


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width/height of a PNG, JPEG, GIF or WebP image; None when it is not an image."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return 1, 1
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xC0, 0xC1, 0xC2):
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(width), int(height)
            (length,) = struct.unpack(">H", data[i + 2 : i + 4])
            i += 2 + length
        return 1, 1
    return None
