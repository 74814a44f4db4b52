"""Configuration: one TOML file plus `CLAUSEBOT_*` environment variables.

Secrets (bot token, IMAP/SMTP passwords) are accepted only from the environment or from secret
files (`CLAUSEBOT_SMTP_PASSWORD_FILE=/run/secrets/smtp`), never from the TOML file, which tends
to end up in backups and version control.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from clauses.context import DEFAULTS

SECRET_FIELDS = ("telegram_token", "imap_password", "smtp_password")


class ImapAccount(BaseModel):
    host: str
    port: int = 993
    ssl: bool = True
    starttls: bool = False
    username: str
    folders: list[str] = Field(default_factory=lambda: ["INBOX"])
    done_folder: str = "Traités"
    error_folder: str = "Erreurs"
    quarantine_folder: str = "Quarantaine"


class AgencySettings(BaseModel):
    """The agency's identity printed on the bilans (TOML table ``[agency]`` or
    ``CLAUSEBOT_AGENCY__ADDRESS`` etc.); the name defaults to ``agency_name``."""

    name: str | None = None
    address: str | None = None
    """Postal address; « ; » or a new line separates its lines."""
    logo_file: Path | None = None
    """A PNG or JPEG file printed at the top of the bilans."""
    convention_reference: str | None = None
    """E.g. « Convention AMO Insertion n° 2025-14 du 12/02/2025 »."""
    signature: str | None = None
    """The closing line, e.g. « Le service Clauses sociales — Métropole Emploi »."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CLAUSEBOT_", env_nested_delimiter="__", extra="ignore"
    )
    toml_path: ClassVar[Path | None] = None

    data_dir: Path = Path("./data")
    database_url: str | None = None
    rulebook: str = "default"
    language: str = "fr"
    timezone: str = "Europe/Paris"
    agency_name: str = DEFAULTS.agency_name
    agency_email: str = DEFAULTS.agency_email
    agency: AgencySettings = Field(default_factory=AgencySettings)
    alerts_email: str | None = None
    """Shared inbox for alerts nobody is in charge of, in a team too large to alert everyone."""
    alert_digest_threshold: int = Field(DEFAULTS.alert_digest_threshold, ge=0)
    """More scheduler alerts than this waiting for one person: one digest message instead (0: never)."""

    # chat
    telegram_token: SecretStr | None = None
    telegram_bot_username: str | None = None
    telegram_base_url: str | None = None
    telegram_base_file_url: str | None = None
    chat_rate_per_second: float = 25.0
    chat_console_interactive: bool | None = None

    # mail in
    imap_host: str | None = None
    imap_port: int = 993
    imap_ssl: bool = True
    imap_starttls: bool = False
    imap_username: str | None = None
    imap_password: SecretStr | None = None
    imap_folders: list[str] = Field(default_factory=lambda: ["INBOX"])
    imap_poll_seconds: int = 60
    imap_idle_seconds: int = 600
    mail_max_message_bytes: int = 25 * 1024 * 1024
    mail_max_attachment_bytes: int = 10 * 1024 * 1024
    mail_require_authentication_results: bool = False
    mail_reject_failed_authentication: bool = True
    mail_authserv_id: str | None = None

    # mail out
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_ssl: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout: float = 30.0
    smtp_validate_certs: bool = True
    smtp_ca_file: str | None = None
    outbox_max_attempts: int = DEFAULTS.outbox_max_attempts

    # scheduler
    reminder_day: int = DEFAULTS.reminder_day
    second_reminder_after_days: int = DEFAULTS.second_reminder_after_days
    annual_bilan_date: str = DEFAULTS.annual_bilan_date
    annual_bilan_auto: bool = DEFAULTS.annual_bilan_auto

    # reports and privacy
    small_cell_threshold: int = DEFAULTS.small_cell_threshold
    retention_rejected_months: int = DEFAULTS.retention_rejected_months
    retention_inactive_months: int = DEFAULTS.retention_inactive_months
    retention_proof_months: int = DEFAULTS.retention_proof_months
    retention_raw_mail_days: int = DEFAULTS.retention_raw_mail_days
    retention_chat_days: int = DEFAULTS.retention_chat_days

    log_json: bool = False
    log_level: str = "INFO"

    @model_validator(mode="before")
    @classmethod
    def _secret_files(cls, values: Any) -> Any:
        """`CLAUSEBOT_<SECRET>_FILE` points at a file holding the secret (Docker/systemd style)."""
        if not isinstance(values, dict):
            return values
        for name in SECRET_FIELDS:
            path = os.environ.get(f"CLAUSEBOT_{name.upper()}_FILE")
            if path and not values.get(name):
                values[name] = Path(path).read_text(encoding="utf-8").strip()
        return values

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if cls.toml_path is not None:
            sources.append(_TomlWithoutSecrets(settings_cls, cls.toml_path))
        return tuple(sources)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'clausebot.sqlite3').resolve()}"

    @property
    def documents_dir(self) -> Path:
        return self.data_dir / "documents"

    @property
    def maildir_in(self) -> Path:
        return self.data_dir / "mail" / "incoming"

    @property
    def maildir_out(self) -> Path:
        return self.data_dir / "mail" / "outgoing"

    @property
    def chat_backend(self) -> str:
        return "telegram" if self.telegram_token else "console"

    @property
    def mail_in_backend(self) -> str:
        return "imap" if self.imap_host else "maildir"

    @property
    def mail_out_backend(self) -> str:
        return "smtp" if self.smtp_host else "maildir"


class _TomlWithoutSecrets(TomlConfigSettingsSource):
    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        leaked = [k for k in SECRET_FIELDS if k in data]
        if leaked:
            raise ValueError(
                "Secret(s) in the TOML file: "
                + ", ".join(leaked)
                + ". Put them in the environment (CLAUSEBOT_...) or a *_FILE instead."
            )
        return data

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        super().__init__(settings_cls, toml_file=path)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from `config_file` (or CLAUSEBOT_CONFIG, or ./clausebot.toml if present)."""
    path = config_file or (Path(os.environ["CLAUSEBOT_CONFIG"]) if os.environ.get("CLAUSEBOT_CONFIG") else None)
    if path is None and Path("clausebot.toml").exists():
        path = Path("clausebot.toml")
    Settings.toml_path = path
    try:
        return Settings(**overrides)
    finally:
        Settings.toml_path = None
