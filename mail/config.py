"""Settings of the e-mail channel as plain dataclasses.

Why not pass `clausebot.settings.Settings` around: `mail` must not import the wiring package, and
tests build these small objects directly. :func:`from_settings` reads any object with the
`Settings` attribute names (duck typing), so the wiring calls it once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clauses.context import DEFAULTS


@dataclass(frozen=True)
class ImapConfig:
    host: str
    username: str
    password: str
    port: int = 993
    ssl: bool = True
    starttls: bool = False
    folders: tuple[str, ...] = ("INBOX",)
    done_folder: str = "Traités"
    error_folder: str = "Erreurs"
    quarantine_folder: str = "Quarantaine"
    poll_seconds: float = 60.0
    # RFC 2177: servers may drop an IDLE after 30 minutes; renew well before (29 min is the
    # usual ceiling, 10 min by default leaves a wide margin against NAT timeouts too).
    idle_seconds: float = 600.0
    timeout: float = 60.0
    reconnect_max_seconds: float = 300.0

    @property
    def account(self) -> str:
        return f"{self.username}@{self.host}"[:254]


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 587
    starttls: bool = True
    ssl: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    validate_certs: bool = True
    ca_file: str | None = None


@dataclass(frozen=True)
class MailConfig:
    """What the intake and the sender need besides the transports."""

    agency_name: str = DEFAULTS.agency_name
    agency_email: str = DEFAULTS.agency_email
    max_message_bytes: int = 25 * 1024 * 1024
    max_attachment_bytes: int = 10 * 1024 * 1024
    # Zip containers (XLSX, DOCX, ZIP): total uncompressed size, entries and expansion ratio.
    max_uncompressed_bytes: int = 50 * 1024 * 1024
    max_zip_entries: int = 2000
    max_zip_ratio: int = 200
    max_sheet_rows: int = 2000
    require_authentication_results: bool = False
    reject_failed_authentication: bool = True
    """An explicit dmarc=fail (or SPF/DKIM fail, nothing passing) from our server: quarantine."""
    authserv_id: str | None = None
    imap: ImapConfig | None = None
    smtp: SmtpConfig | None = None
    maildir_in: Path | None = None
    maildir_out: Path | None = None
    maildir_poll_seconds: float = 5.0
    outbox_max_attempts: int = DEFAULTS.outbox_max_attempts
    outbox_retry_base_seconds: float = 60.0
    outbox_retry_max_seconds: float = 3600.0
    outbox_poll_seconds: float = 5.0
    outbox_lease_seconds: float = 15.0
    """Renewed every third of it while the sender is alive: a crashed sender's rows are
    retried within this many seconds, a live one's never (see clauses.outbox_runner)."""
    outbox_batch: int = 50
    retention_raw_mail_days: int = DEFAULTS.retention_raw_mail_days
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def agency_domain(self) -> str:
        return self.agency_email.rpartition("@")[2] or "clausebot.invalid"


def _secret(value: Any) -> str | None:
    if value is None:
        return None
    getter = getattr(value, "get_secret_value", None)
    return getter() if callable(getter) else str(value)


def _server(settings: Any, prefix: str) -> dict[str, Any]:
    """The connection settings IMAP and SMTP both have, under their prefix (``imap_host``,
    ``smtp_port``…), read in one place."""
    names = ("host", "port", "ssl", "starttls", "username")
    return {name: getattr(settings, f"{prefix}_{name}") for name in names} | {
        "password": _secret(getattr(settings, f"{prefix}_password"))}


def from_settings(settings: Any) -> MailConfig:
    """Build the mail configuration from `clausebot.settings.Settings` (or a look-alike)."""
    imap = None
    if getattr(settings, "imap_host", None):
        server = _server(settings, "imap")
        imap = ImapConfig(
            **server | {"username": server["username"] or "", "password": server["password"] or ""},
            folders=tuple(settings.imap_folders),
            poll_seconds=float(settings.imap_poll_seconds),
            idle_seconds=float(min(settings.imap_idle_seconds, 25 * 60)),
        )
    smtp = None
    if getattr(settings, "smtp_host", None):
        smtp = SmtpConfig(
            **_server(settings, "smtp"),
            timeout=float(settings.smtp_timeout),
            validate_certs=bool(getattr(settings, "smtp_validate_certs", True)),
            ca_file=getattr(settings, "smtp_ca_file", None),
        )
    return MailConfig(
        agency_name=settings.agency_name,
        agency_email=settings.agency_email,
        max_message_bytes=settings.mail_max_message_bytes,
        max_attachment_bytes=settings.mail_max_attachment_bytes,
        require_authentication_results=settings.mail_require_authentication_results,
        authserv_id=settings.mail_authserv_id,
        reject_failed_authentication=getattr(settings, "mail_reject_failed_authentication", True),
        imap=imap,
        smtp=smtp,
        maildir_in=Path(settings.maildir_in),
        maildir_out=Path(settings.maildir_out),
        outbox_max_attempts=settings.outbox_max_attempts,
        retention_raw_mail_days=settings.retention_raw_mail_days,
    )
