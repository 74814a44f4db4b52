"""An SMTP sink (aiosmtpd) that records every message, with failure and outage injection.

Why: the outbox sender must prove "nothing lost, nothing twice" against a real SMTP dialogue,
including temporary (4xx) and permanent (5xx) refusals and a server that goes away. The sink
runs aiosmtpd's ``Controller`` in its own thread/loop on a fixed free loopback port, so a test
(sync or async) and the code under test talk to it over real TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.servers._util import LOOPBACK, free_port, port_is_open, wait_until

Stage = Literal["MAIL", "RCPT", "DATA"]
SERVER_HOSTNAME = "smtp.agence.test"


@dataclass(frozen=True)
class ReceivedMessage:
    """One accepted message, as the sink saw it on the wire."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage
    peer: str
    auth_login: str | None
    received_at: float = field(default_factory=time.time)

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    def text_body(self) -> str:
        """The text/plain body (or the first text part), decoded."""
        part = self.message.get_body(preferencelist=("plain", "html"))
        return "" if part is None else str(part.get_content())  # type: ignore[attr-defined]

    def attachments(self) -> list[tuple[str, str, bytes]]:
        """``(filename, content_type, bytes)`` of each attachment."""
        result = []
        for part in self.message.iter_attachments():
            payload = part.get_payload(decode=True)
            result.append(
                (part.get_filename() or "", part.get_content_type(), bytes(payload or b""))
            )
        return result


@dataclass
class _Failure:
    remaining: int
    code: int
    message: str
    stage: Stage


class _Handler:
    """aiosmtpd handler: applies injected failures, then records accepted messages."""

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self.sink.auth_required and not session.authenticated:
            # Enforced here rather than with aiosmtpd's auth_required, which warns when TLS
            # is not required too (we deliberately test AUTH over plain loopback).
            return "530 5.7.0 Authentication required"
        failure = self.sink._take_failure("MAIL")
        if failure:
            return failure
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        rejected = self.sink._rejection_for(address)
        if rejected:
            return rejected
        failure = self.sink._take_failure("RCPT")
        if failure:
            return failure
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        failure = self.sink._take_failure("DATA")
        if failure:
            return failure
        raw = envelope.original_content or (
            envelope.content
            if isinstance(envelope.content, bytes)
            else str(envelope.content).encode()
        )
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        login = (
            session.auth_data.login.decode()
            if isinstance(session.auth_data, LoginPassword)
            else None
        )
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        self.sink._record(
            ReceivedMessage(
                mail_from=str(envelope.mail_from),
                rcpt_tos=tuple(envelope.rcpt_tos),
                raw=bytes(raw),
                message=parsed,
                peer=peer,
                auth_login=login,
            )
        )
        return "250 2.0.0 Message accepted for delivery"


class _QuietSession(Session):
    """aiosmtpd itself sets the deprecated ``login_data`` on AUTH; keep that out of test output."""

    @property
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


class _SinkSMTP(SMTP):
    def _create_session(self) -> Session:
        return _QuietSession(self.loop)


class _SinkController(Controller):
    def factory(self) -> SMTP:
        return _SinkSMTP(self.handler, **self.SMTP_kwargs)


def _self_signed_context(workdir: Path) -> ssl.SSLContext:
    """A server TLS context with a throwaway self-signed cert (openssl CLI, no network)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("openssl is needed to enable STARTTLS on the SMTP sink")
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", f"/CN={SERVER_HOSTNAME}", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    return context


class SmtpSink:
    """A recording SMTP server on a fixed loopback port.

    ``auth``: ``(user, password)`` to advertise AUTH PLAIN/LOGIN and accept only those
    credentials (``auth_required`` then refuses mail from unauthenticated clients).
    ``starttls``: advertise STARTTLS with a self-signed certificate (off by default, because
    clients that use STARTTLS opportunistically would then reject the untrusted certificate).
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        auth: tuple[str, str] | None = None,
        auth_required: bool = False,
        starttls: bool = False,
    ) -> None:
        self.host = LOOPBACK
        self.port = port or free_port()
        self.auth = auth
        self.auth_required = auth_required and auth is not None
        self.starttls = starttls
        self.startup_seconds = 0.0
        self._controller: Controller | None = None
        self._cond = threading.Condition()
        self._messages: list[ReceivedMessage] = []
        self._failures: list[_Failure] = []
        self._rejected: dict[str, str] = {}
        self._auth_attempts: list[tuple[str, bool]] = []
        self._tmpdir: Path | None = None
        self._tls_context: ssl.SSLContext | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> SmtpSink:
        """Listen on ``self.port`` (the same port after a ``stop()``, to simulate an outage)."""
        if self._controller is not None:
            return self
        began = time.monotonic()
        kwargs: dict[str, Any] = {
            "server_hostname": SERVER_HOSTNAME,
            "ident": "clausebot test sink",
            "enable_SMTPUTF8": True,
        }
        if self.auth is not None:
            kwargs.update(
                authenticator=self._authenticate,
                auth_require_tls=False,
            )
        if self.starttls:
            if self._tls_context is None:
                self._tmpdir = Path(tempfile.mkdtemp(prefix="clausebot-smtp-"))
                self._tls_context = _self_signed_context(self._tmpdir)
            kwargs.update(tls_context=self._tls_context, require_starttls=False)
        controller = _SinkController(_Handler(self), hostname=self.host, port=self.port, **kwargs)
        last: Exception | None = None
        for _attempt in range(50):  # the port may linger briefly after an outage
            try:
                controller.start()
                break
            except (OSError, RuntimeError) as exc:
                last = exc
                controller = _SinkController(
                    _Handler(self), hostname=self.host, port=self.port, **kwargs
                )
                time.sleep(0.05)
        else:
            raise RuntimeError(f"SMTP sink could not listen on {self.host}:{self.port}: {last}")
        self._controller = controller
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop listening (connections are then refused) but keep the recorded messages."""
        if self._controller is None:
            return
        controller, self._controller = self._controller, None
        controller.stop()
        wait_until(lambda: not port_is_open(self.host, self.port), 5, "SMTP sink to close its port")

    def close(self) -> None:
        """Stop and remove temporary files (fixture teardown)."""
        self.stop()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    @contextlib.contextmanager
    def outage(self) -> Iterator[None]:
        """``with sink.outage():`` the server is down inside the block, up again after."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- failure injection --------------------------------------------------------------------
    def fail_next(
        self, n: int = 1, code: int = 451, message: str | None = None, stage: Stage = "DATA"
    ) -> None:
        """Answer ``code`` to the next ``n`` commands of ``stage`` (MAIL, RCPT or DATA)."""
        if not 400 <= code <= 599:
            raise ValueError("inject a 4xx (temporary) or 5xx (permanent) code")
        if stage not in ("MAIL", "RCPT", "DATA"):
            raise ValueError(f"unknown SMTP stage {stage!r}")
        if message is None:
            message = (
                "4.3.0 Temporary failure, try again later"
                if code < 500
                else "5.7.1 Message rejected"
            )
        with self._cond:
            self._failures.append(_Failure(n, code, message, stage))

    def reject_recipient(
        self, address: str, code: int = 550, message: str = "5.1.1 User unknown"
    ) -> None:
        """Always refuse RCPT TO ``address`` (case-insensitive), e.g. a bouncing address."""
        with self._cond:
            self._rejected[address.lower()] = f"{code} {message}"

    def clear_failures(self) -> None:
        with self._cond:
            self._failures.clear()
            self._rejected.clear()

    def _take_failure(self, stage: Stage) -> str | None:
        with self._cond:
            for failure in self._failures:
                if failure.stage == stage and failure.remaining > 0:
                    failure.remaining -= 1
                    if failure.remaining == 0:
                        self._failures.remove(failure)
                    return f"{failure.code} {failure.message}"
        return None

    def _rejection_for(self, address: str) -> str | None:
        with self._cond:
            return self._rejected.get(address.lower())

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = False
        login = ""
        if isinstance(auth_data, LoginPassword) and self.auth is not None:
            login = auth_data.login.decode(errors="replace")
            ok = (login, auth_data.password.decode(errors="replace")) == self.auth
        with self._cond:
            self._auth_attempts.append((login, ok))
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    @property
    def auth_attempts(self) -> list[tuple[str, bool]]:
        """``(login, succeeded)`` for each AUTH attempt."""
        with self._cond:
            return list(self._auth_attempts)

    # -- recorded messages --------------------------------------------------------------------
    def _record(self, message: ReceivedMessage) -> None:
        with self._cond:
            self._messages.append(message)
            self._cond.notify_all()

    @property
    def messages(self) -> list[ReceivedMessage]:
        """A snapshot of every accepted message, in arrival order."""
        with self._cond:
            return list(self._messages)

    def messages_to(self, address: str) -> list[ReceivedMessage]:
        wanted = address.lower()
        return [m for m in self.messages if wanted in (r.lower() for r in m.rcpt_tos)]

    def clear(self) -> None:
        """Forget recorded messages, failures and auth attempts."""
        with self._cond:
            self._messages.clear()
            self._failures.clear()
            self._rejected.clear()
            self._auth_attempts.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMessage]:
        """Block until at least ``count`` messages arrived (sync tests, bot in another thread)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._messages) >= count, timeout=timeout):
                raise TimeoutError(f"expected {count} messages, sink has {len(self._messages)}")
            return list(self._messages)

    async def wait_for_async(self, count: int, timeout: float = 10.0) -> list[ReceivedMessage]:
        """Same as ``wait_for`` without blocking the caller's event loop."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = self.messages
            if len(current) >= count:
                return current
            await asyncio.sleep(0.01)
        raise TimeoutError(f"expected {count} messages, sink has {len(self.messages)}")
