"""Where outgoing e-mail goes: an SMTP server (aiosmtplib) or a Maildir (embedded default).

Failures are sorted into three kinds, because they call for different handling by the sender:

* `TransportUnavailable`: the server cannot be reached or the conversation broke (connection
  refused, timeout, disconnect, TLS or authentication failure). Nothing is known about the
  message; it is retried later and the loop backs off.
* `TemporaryFailure`: the server answered 4xx (greylisting, mailbox busy): retry with backoff.
* `PermanentFailure`: the server answered 5xx (unknown user, rejected): do not retry.

STARTTLS is *required* when configured (`start_tls=True`): a server that does not offer it is
"unavailable", never talked to in clear text.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import ssl
import tempfile
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

import aiosmtplib

from mail.config import SmtpConfig
from mail.maildir_intake import ensure_maildir


class TransportUnavailable(Exception):
    pass


class TemporaryFailure(Exception):
    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(f"{code} {message}" if code else message)
        self.code = code


class PermanentFailure(Exception):
    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(f"{code} {message}" if code else message)
        self.code = code


class TransportSession(Protocol):
    async def send(self, message: EmailMessage, sender: str, recipients: list[str]) -> None: ...


class Transport(Protocol):
    def session(self) -> contextlib.AbstractAsyncContextManager[TransportSession]: ...


# -- SMTP ---------------------------------------------------------------------------------------

class _SmtpSession:
    def __init__(self, smtp: aiosmtplib.SMTP) -> None:
        self.smtp = smtp

    async def send(self, message: EmailMessage, sender: str, recipients: list[str]) -> None:
        try:
            await self.smtp.send_message(message, sender=sender, recipients=recipients)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            text = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)[:500]
            if codes and all(500 <= c < 600 for c in codes):
                raise PermanentFailure(codes[0], text) from exc
            raise TemporaryFailure(codes[0] if codes else None, text) from exc
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError,
                aiosmtplib.SMTPConnectError) as exc:
            raise TransportUnavailable(str(exc)[:500]) from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise PermanentFailure(exc.code, exc.message[:500]) from exc
            raise TemporaryFailure(exc.code, exc.message[:500]) from exc
        except (OSError, TimeoutError, aiosmtplib.SMTPException) as exc:
            raise TransportUnavailable(str(exc)[:500]) from exc


class SmtpTransport:
    def __init__(self, cfg: SmtpConfig) -> None:
        self.cfg = cfg

    def _client(self) -> aiosmtplib.SMTP:
        cfg = self.cfg
        tls_context = None
        if cfg.ca_file:
            tls_context = ssl.create_default_context(cafile=cfg.ca_file)
        return aiosmtplib.SMTP(
            hostname=cfg.host,
            port=cfg.port,
            username=cfg.username or None,
            password=cfg.password or None,
            use_tls=cfg.ssl,
            start_tls=bool(cfg.starttls and not cfg.ssl),
            validate_certs=cfg.validate_certs,
            tls_context=tls_context,
            timeout=cfg.timeout,
        )

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[TransportSession]:
        smtp = self._client()
        try:
            await smtp.connect()
        except (aiosmtplib.SMTPException, OSError, TimeoutError, ssl.SSLError) as exc:
            with contextlib.suppress(Exception):
                smtp.close()
            raise TransportUnavailable(f"{exc.__class__.__name__}: {str(exc)[:300]}") from exc
        try:
            yield _SmtpSession(smtp)
        finally:
            try:
                await smtp.quit()
            except Exception:
                smtp.close()


# -- Maildir ------------------------------------------------------------------------------------

class _MaildirSession:
    def __init__(self, root: Path) -> None:
        self.root = root

    async def send(self, message: EmailMessage, sender: str, recipients: list[str]) -> None:
        """Write into `new/` through `tmp/`; the file is named after the Message-ID, so a resend
        of the same row (crash after writing, before the database update) is a no-op."""
        msgid = str(message.get("Message-ID", ""))
        name = hashlib.sha256(msgid.encode()).hexdigest()[:40] + ".clausebot"
        if (self.root / "new" / name).exists() or any((self.root / "cur").glob(name + "*")):
            return
        data = message.as_bytes()
        fd, tmp = tempfile.mkstemp(dir=self.root / "tmp", prefix=".out-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.root / "new" / name)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise TransportUnavailable(f"maildir: {exc}") from exc
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class MaildirTransport:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[TransportSession]:
        try:
            ensure_maildir(self.root)
        except OSError as exc:
            raise TransportUnavailable(str(exc)) from exc
        yield _MaildirSession(self.root)
