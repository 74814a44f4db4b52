"""Admin commands of `clausebot`: the territory, the CSV import, invitations and alerts.

Split by area (`cli_admin_territory`, `cli_admin_import`, `cli_admin_access`) so each module
stays small; this module only registers them on the root group.
"""

from __future__ import annotations

import click

from clausebot import cli_admin_access, cli_admin_import, cli_admin_territory


def register(main: click.Group) -> None:
    cli_admin_territory.register(main)
    main.add_command(cli_admin_import.import_command)
    cli_admin_access.register(main)
