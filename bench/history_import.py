"""``python -m bench.history_import``: the history import at scale, and what the chat waits.

Loads examples/ (territory, registries, a facilitator) on an empty database, generates a
history file of N monthly lines (one CDD of ten months per person, spread over three lots),
imports it with ``clausebot historique importer`` while a "chat" thread does what an incoming
chat update does every 50 ms — a short write transaction — and records how long each waited.
Then a raw ``executemany`` of the same number of rows into a scratch table of the
``hour_declarations`` shape gives the floor the import is compared to.

Examples::

    python -m bench.history_import --lines 100000 --backend sqlite
    python -m bench.history_import --lines 100000 --backend postgres
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import string
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import Column, Date, Integer, MetaData, Numeric, String, Table, insert, text

from storage.db import Database

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
HEADER = ("nom;prénom;date de naissance;genre;commune;qpv;critère;date du justificatif;"
          "validé par;marché;lot;entreprise;type de contrat;début;fin;mois;heures travail;"
          "heures formation;sortie;date de sortie")
LOTS = (("2025-017", "1", "Démolition Lyonnaise Sud"), ("2025-017", "2", "BTP Rhône-Confluent"),
        ("2025-031", "1", "Paysages de la Saulaie"))
MONTHS = [dt.date(2025, m, 1) for m in range(4, 13)] + [dt.date(2026, 1, 1)]


def letters(n: int) -> str:
    out = ""
    for _ in range(5):
        n, r = divmod(n, 26)
        out = string.ascii_uppercase[r] + out
    return out


def history_file(path: Path, lines: int) -> None:
    rows = [HEADER]
    for i in range(lines // len(MONTHS)):
        market, lot, company = LOTS[i % len(LOTS)]
        birth = dt.date(1970, 1, 1) + dt.timedelta(days=i % 12000)
        for month in MONTHS:
            rows.append(";".join([
                letters(i), "Prénom", birth.strftime("%d/%m/%Y"), "F", "Oullins", "non", "deld",
                "15/01/2025", "fanny.morel@agence.example", market, lot, company, "CDD",
                "01/04/2025", "31/01/2026", month.strftime("%m/%Y"), "120", "", "", ""]))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def chat_waits(db: Database, stop: threading.Event, waits: list[float]) -> None:
    """A write transaction every 50 ms, like a chat update; the time each one took."""
    while not stop.is_set():
        t0 = time.perf_counter()
        with db.session() as s:
            s.execute(text("UPDATE users SET display_name = display_name WHERE id = 1"))
        waits.append(time.perf_counter() - t0)
        time.sleep(0.05)


def raw_executemany(db: Database, lines: int) -> float:
    table = Table("bench_raw_hours", MetaData(), Column("id", Integer, primary_key=True),
                  Column("contract_id", Integer), Column("month", Date),
                  Column("work_hours", Numeric(8, 2)), Column("training_hours", Numeric(8, 2)),
                  Column("counted_hours", Numeric(8, 2)), Column("revision", Integer),
                  Column("source", String(20)))
    table.create(db.engine)
    rows = [{"contract_id": i // 10 + 1, "month": MONTHS[i % 10], "work_hours": Decimal(120),
             "training_hours": Decimal(0), "counted_hours": Decimal(120), "revision": 1,
             "source": "cli"} for i in range(lines)]
    t0 = time.perf_counter()
    with db.session() as s:
        s.execute(insert(table), rows)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="clausebot-history-"))
    server = None
    if args.backend == "postgres":
        from tests.servers.postgres import PostgresServer

        server = PostgresServer()
        server.start()
        url = server.create_database("bench_history")
    else:
        url = f"sqlite:///{work / 'bench.sqlite3'}"
    env = {"CLAUSEBOT_DATABASE_URL": url, "CLAUSEBOT_DATA_DIR": str(work / "data"),
           "CLAUSEBOT_RULEBOOK": "default"}
    os.environ.update(env)
    from clausebot.cli import main as cli

    runner = CliRunner()

    def run(*a: str) -> str:
        result = runner.invoke(cli, list(a), env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    try:
        run("db", "upgrade")
        run("import", str(EXAMPLES / "import_exemple.csv"))
        run("registres", "charger", str(EXAMPLES / "agence" / "registres.toml"))
        run("facilitateur", "create", "--nom", "Fanny Morel", "--email", "fanny.morel@agence.example")
        path = work / "historique.csv"
        history_file(path, args.lines)
        db = Database(url)
        stop, waits = threading.Event(), []
        chat = threading.Thread(target=chat_waits, args=(db, stop, waits))
        chat.start()
        t0 = time.perf_counter()
        out = run("historique", "importer", str(path))
        elapsed = time.perf_counter() - t0
        stop.set()
        chat.join()
        raw = raw_executemany(db, args.lines)
        waits.sort()
        print(out)
        print(f"{args.backend}: {args.lines} lines imported in {elapsed:.1f} s "
              f"({args.lines / elapsed:.0f} lines/s); raw executemany {raw:.2f} s; "
              f"ratio {elapsed / raw:.0f}x")
        print(f"chat write during the import: {len(waits)} transactions, median "
              f"{statistics.median(waits) * 1000:.0f} ms, p99 {waits[int(len(waits) * 0.99)] * 1000:.0f} ms, "
              f"max {waits[-1] * 1000:.0f} ms")
        db.dispose()
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
