"""What `clausebot run` keeps in memory: the heavy libraries it must not import.

Why: modules are never unloaded, so whatever the long-running service imports once it holds for
its whole life (issue 20: the whole process tree within 180 MB). Alembic and Mako (10 MB) are
only needed when the schema is behind; WeasyPrint (60 MB) only in the renderer process;
matplotlib and numpy nowhere. The test runs the service's own start-up path in a fresh
interpreter (the test suite imports all of them, which would hide a regression).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.servers._util import service_env

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "clausebot.cli"]
HEAVY = ("alembic", "mako", "weasyprint", "matplotlib", "numpy")

RUN_BRIEFLY = textwrap.dedent('''
    import asyncio, sys

    from clausebot.service import keep_numpy_out, serve
    from clausebot.settings import load_settings

    keep_numpy_out()  # what `clausebot run` does first (clausebot.service.main)

    async def main() -> int:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(3.0, stop.set)
        return await serve(load_settings(None), stop=stop)

    code = asyncio.run(main())
    heavy = sorted(m for m in __HEAVY__ if sys.modules.get(m) is not None)
    print("EXIT", code)
    print("HEAVY", ",".join(heavy))
''').replace("__HEAVY__", repr(HEAVY))


def _run_service_briefly(data: Path) -> tuple[int, set[str]]:
    env = dict(service_env(data), PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", RUN_BRIEFLY], cwd=ROOT, env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines()
                 if line.startswith(("EXIT ", "HEAVY ")))
    return int(lines["EXIT"]), set(lines["HEAVY"].strip().split(",")) - {""}


def test_the_running_service_holds_neither_alembic_nor_the_pdf_and_plot_libraries(tmp_path):
    """A database at the head (`clausebot db upgrade` first, as a deployment does): the
    service starts, serves and stops without importing Alembic, WeasyPrint, matplotlib or
    numpy."""
    data = tmp_path / "data"
    upgrade = subprocess.run([*CLI, "db", "upgrade"], env=service_env(data), cwd=ROOT,
                             capture_output=True, text=True, timeout=120, check=False)
    assert upgrade.returncode == 0, upgrade.stderr
    code, heavy = _run_service_briefly(data)
    assert code == 0
    assert heavy == set(), heavy


def test_a_service_started_on_a_new_database_creates_it_with_alembic(tmp_path):
    """The embedded default: no database yet; the service creates it (Alembic, imported then
    only) and the schema is at the head."""
    from storage import migrate
    from storage.db import Database

    data = tmp_path / "data"
    code, heavy = _run_service_briefly(data)
    assert code == 0
    assert "alembic" in heavy and not heavy & {"weasyprint", "matplotlib", "numpy"}
    [path] = [p for p in data.glob("*.sqlite3")]
    db = Database(f"sqlite:///{path}")
    try:
        assert migrate.current_revision(db) == migrate.head_revision()
    finally:
        db.dispose()
    assert os.path.getsize(path) > 0
