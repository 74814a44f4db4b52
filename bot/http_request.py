"""The Bot API's HTTP transport: python-telegram-bot's request interface on an aiohttp session.

Why not PTB's default (``HTTPXRequest``): with many updates in flight, httpcore 1.0's connection
pool rescans every connection at each request and each response, and checks every idle one with a
``poll()`` and a ``getpeername()`` system call (``_assign_requests_to_connections``, quadratic in
the pool: encode/httpcore#1035, unmerged). Profiled with 40 users at 50 ms Bot API latency it was
the largest single cost of the chat's event loop — more than the handling of the updates. aiohttp's
connector keeps its idle connections in a per-host deque and reuses one in constant time.

It sends what ``HTTPXRequest`` sends (form fields, or multipart when a file is attached), and
maps failures to the same PTB errors (``TimedOut``, ``NetworkError``), so the bot's retry and
outbox rules are unchanged. aiohttp is already what the test-suite's Bot API server runs on.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


class AiohttpRequest(BaseRequest):
    """A PTB request backend on one ``aiohttp.ClientSession`` with up to ``connection_pool_size``
    connections; timeouts in seconds like ``HTTPXRequest``'s."""

    def __init__(self, connection_pool_size: int = 64, *, read_timeout: float | None = 5.0,
                 write_timeout: float | None = 5.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 1.0, media_write_timeout: float | None = 20.0
                 ) -> None:
        self.connection_pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.connection_pool_size,
                                               limit_per_host=self.connection_pool_size),
                headers={"User-Agent": self.USER_AGENT})

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: Any = BaseRequest.DEFAULT_NONE,
                         write_timeout: Any = BaseRequest.DEFAULT_NONE,
                         connect_timeout: Any = BaseRequest.DEFAULT_NONE,
                         pool_timeout: Any = BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = bool(request_data and request_data.contains_files)
        read = self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout
        connect = (self._connect_timeout if isinstance(connect_timeout, DefaultValue)
                   else connect_timeout)
        pool = self._pool_timeout if isinstance(pool_timeout, DefaultValue) else pool_timeout
        if isinstance(write_timeout, DefaultValue):
            write = self._media_write_timeout if files else self._write_timeout
        else:
            write = write_timeout
        # aiohttp has no separate write timeout: the whole request may take write + read
        total = None if read is None or write is None else read + write + (connect or 0.0)
        timeout = aiohttp.ClientTimeout(total=total, sock_connect=connect, sock_read=read,
                                        connect=None if pool is None or connect is None
                                        else pool + connect)
        try:
            body, headers = _body(request_data)
            async with self._session.request(method, url, data=body, headers=headers,
                                             timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{exc.__class__.__name__}: {exc}") from exc


def _body(request_data: RequestData | None) -> tuple[Any, dict[str, str] | None]:
    """Form fields, or a multipart form carrying the files (what ``HTTPXRequest`` sends).

    The form is encoded here (PTB's own encoding of the values) rather than by aiohttp's
    ``FormData``, which builds a multipart writer, with a random boundary, for every call."""
    if request_data is None:
        return None, None
    if not request_data.contains_files:
        fields = request_data.url_encoded_parameters()
        if not fields:
            return None, None
        return fields.encode(), {"Content-Type": "application/x-www-form-urlencoded"}
    form = aiohttp.FormData(quote_fields=False)  # file names as typed, like httpx (not %20)
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mime) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mime)
    return form, None
