"""The CLI fixture of tests/cli, reused: history imports are driven as an operator would."""

from tests.cli.conftest import cli  # noqa: F401
