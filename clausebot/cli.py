"""`clausebot` command line: the root group; each area registers its commands from its own module.

Messages are in French (the agency's staff run these commands); `--help` of every command ends
with an example.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click

from clausebot.settings import Settings, load_settings

COMMAND_MODULES = (
    "clausebot.cli_db",
    "clausebot.cli_admin",
    "clausebot.cli_registries",
    "clausebot.cli_meetings",
    "clausebot.cli_contracts",
    "clausebot.cli_exits",
    "clausebot.cli_reports",
    "clausebot.cli_jobs",
    "clausebot.cli_rgpd",
    "clausebot.cli_service",
    "clausebot.cli_mail",
    "clausebot.cli_escalation",
    "clausebot.cli_offers",
    "clausebot.cli_history",
    "clausebot.cli_control",
)


class State:
    """Lazily built settings and context, shared by the sub-commands through click's `obj`."""

    def __init__(self, config: Path | None) -> None:
        self.config = config
        self._settings: Settings | None = None
        self._ctx = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config)
        return self._settings

    @property
    def ctx(self):
        if self._ctx is None:
            from clausebot.wiring import build_context

            self._ctx = build_context(self.settings)
        return self._ctx


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "-c", type=click.Path(path_type=Path, dir_okay=False),
              help="Fichier de configuration TOML (sinon CLAUSEBOT_CONFIG ou ./clausebot.toml).")
@click.pass_context
def main(click_ctx: click.Context, config: Path | None) -> None:
    """clausebot : clauses sociales d'insertion, en chat et par e-mail.

    \b
    Exemple :
      clausebot db upgrade && clausebot demo && clausebot run
    """
    click_ctx.obj = State(config)


def _register() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(main)


_register()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
