"""Every admin command documents itself in French with an example (`--help` shows "Exemple")."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from clausebot.cli import main

ADMIN_COMMANDS = [
    ("donneur",), ("donneur", "create"), ("donneur", "list"),
    ("marche",), ("marche", "create"), ("marche", "list"),
    ("lot",), ("lot", "create"),
    ("entreprise",), ("entreprise", "create"), ("entreprise", "list"),
    ("engagement",), ("engagement", "create"), ("engagement", "list"),
    ("facilitateur",), ("facilitateur", "create"), ("facilitateur", "list"),
    ("import",),
    ("invitation",), ("invitation", "create"), ("invitation", "list"), ("invitation", "revoke"),
    ("alertes",),
]


def _all_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, command in group.commands.items():
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths.extend(_all_paths(command, (*prefix, name)))
    return paths


def test_admin_commands_are_registered() -> None:
    registered = set(_all_paths(main))
    assert set(ADMIN_COMMANDS) <= registered, set(ADMIN_COMMANDS) - registered


@pytest.mark.parametrize("path", ADMIN_COMMANDS, ids=" ".join)
def test_help_has_an_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Exemple :" in result.output
    example = result.output.split("Exemple :", 1)[1]
    assert f"clausebot {path[0]}" in example  # the example runs the command itself
