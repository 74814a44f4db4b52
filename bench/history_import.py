"""``python -m bench.history_import``: the history import at scale, and what the chat waits.

Loads examples/ (territory, registries, a facilitator) on an empty database, generates a
history file of N monthly lines (one CDD of ten months per person, spread over three lots),
imports it with ``clausebot historique importer`` while a "chat" thread does what an incoming
chat update does every 50 ms — a short write transaction — and records how long each waited.
Then a raw ``executemany`` of the same number of rows into a scratch table of the
``hour_declarations`` shape gives the floor the import is compared to.

Each round works on a fresh database (SQLite file, or PostgreSQL database in a throwaway
cluster); the first round is a dropped warm-up, then product and floor alternate their order.

Examples::

    python -m bench.history_import --lines 100000 --backend sqlite
    python -m bench.history_import --lines 100000 --backend postgres --rounds 3
    python -m bench.history_import --lines 200000 --backend sqlite --rounds 1   # the chat wait
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


def _stats(values: list[float]) -> str:
    return f"min {min(values):.2f} s, median {statistics.median(values):.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=3,
                        help="measured rounds after one dropped warm-up (product and floor "
                             "alternate their order from round to round)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="clausebot-history-"))
    server = None
    if args.backend == "postgres":
        from tests.servers.postgres import PostgresServer

        server = PostgresServer()
        server.start()
    from clausebot.cli import main as cli

    runner = CliRunner()
    path = work / "historique.csv"
    history_file(path, args.lines)
    products: list[float] = []
    floors: list[float] = []
    all_waits: list[float] = []
    try:
        for round_no in range(args.rounds + 1):
            name = f"bench_history_{round_no}"
            url = (server.create_database(name) if server is not None
                   else f"sqlite:///{work / (name + '.sqlite3')}")
            env = {"CLAUSEBOT_DATABASE_URL": url, "CLAUSEBOT_DATA_DIR": str(work / "data"),
                   "CLAUSEBOT_RULEBOOK": "default"}
            os.environ.update(env)

            def run(*a: str, env: dict[str, str] = env) -> str:
                result = runner.invoke(cli, list(a), env=env, catch_exceptions=False)
                assert result.exit_code == 0, result.output
                return result.output

            run("db", "upgrade")
            run("import", str(EXAMPLES / "import_exemple.csv"))
            run("registres", "charger", str(EXAMPLES / "agence" / "registres.toml"))
            run("facilitateur", "create", "--nom", "Fanny Morel", "--email",
                "fanny.morel@agence.example")
            db = Database(url)
            waits: list[float] = []

            def product(db: Database = db, waits: list[float] = waits) -> float:
                stop = threading.Event()
                chat = threading.Thread(target=chat_waits, args=(db, stop, waits))
                chat.start()
                t0 = time.perf_counter()
                out = run("historique", "importer", str(path))
                elapsed = time.perf_counter() - t0
                stop.set()
                chat.join()
                assert f"mois       {args.lines}" in out, out
                return elapsed

            if round_no % 2 == 0:
                elapsed, raw = product(), raw_executemany(db, args.lines)
            else:
                raw, elapsed = raw_executemany(db, args.lines), product()
            db.dispose()
            label = "warm-up (dropped)" if round_no == 0 else f"round {round_no}"
            print(f"{label}: import {elapsed:.2f} s, raw executemany {raw:.2f} s, "
                  f"ratio {elapsed / raw:.1f}x", flush=True)
            if round_no == 0:
                continue
            products.append(elapsed)
            floors.append(raw)
            all_waits.extend(waits)
        ratios = sorted(p / f for p, f in zip(products, floors, strict=True))
        print(f"{args.backend}: {args.lines} lines, {args.rounds} rounds: import {_stats(products)} "
              f"({args.lines / statistics.median(products):.0f} lines/s); raw executemany "
              f"{_stats(floors)}; ratio min {ratios[0]:.1f}x, median {statistics.median(ratios):.1f}x")
        all_waits.sort()
        print(f"chat write during the imports: {len(all_waits)} transactions, median "
              f"{statistics.median(all_waits) * 1000:.0f} ms, p99 "
              f"{all_waits[int(len(all_waits) * 0.99)] * 1000:.0f} ms, max {all_waits[-1] * 1000:.0f} ms")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
