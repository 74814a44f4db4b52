"""``python -m bench``: generate the synthetic databases, run the measurements, print the table.

Examples::

    python -m bench                                   # territory, both backends, everything
    python -m bench --size national --backend postgres --only bilan,memory
    python -m bench --size tiny --only bilan          # seconds, what the smoke test does
    python -m bench --generate-only --size national   # build (and cache) the SQLite file

The heavy national runs take minutes and gigabytes: run them one at a time on a shared machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.databases import PG_BUILDS, Backends
from bench.harness import Row, Run
from bench.report import machine, markdown, text_table
from bench.sizes import size_named

MEASURES: dict[str, str] = {
    "bilan": "bench.measures.bilan",
    "import": "bench.measures.imports",
    "intake": "bench.measures.intake",
    "chat": "bench.measures.chat",
    "scheduler": "bench.measures.scheduler",
    "memory": "bench.measures.memory",
    "tick": "bench.measures.scheduler:floor_rows",
    "bilan-scaling": "bench.measures.bilan:scaling_rows",
}
"""Name -> module (its ``run``) or ``module:function``: ``tick`` is the scheduler's row against
the floor of its writes alone, without the ten-times-history database; ``bilan-scaling`` the
whole-territory bilan at this size against one territory, alternated in one process."""
EXTRA = ("tick", "bilan-scaling")
"""Run on request only (``--only``): parts of the default measurements, or national-only."""
DEFAULT_WORKDIR = Path("/tmp/clausebot-bench")


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=_csv, default=["territory"],
                        help="tiny, small, territory, national (comma-separated)")
    parser.add_argument("--backend", type=_csv, default=["sqlite", "postgres"],
                        help="sqlite, postgres (comma-separated)")
    parser.add_argument("--only", type=_csv, default=[m for m in MEASURES if m not in EXTRA],
                        help="measurements to run: " + ", ".join(MEASURES))
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds per measurement")
    parser.add_argument("--seed", type=int, default=20250101)
    parser.add_argument("--today", type=dt.date.fromisoformat, default=None,
                        help="the generated territory's today (default: the real date)")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR,
                        help="cache of generated SQLite files and scratch space")
    parser.add_argument("--pg-url", default=None,
                        help="an existing PostgreSQL server (superuser URL) instead of the "
                             "bench's own cluster (kept in WORKDIR/pg15 between runs)")
    parser.add_argument("--pg-build", choices=PG_BUILDS, default="sqlite",
                        help="how a missing PostgreSQL template database is built: copied from "
                             "the cached SQLite file (default, minutes at national size) or "
                             "generated (30-40 minutes at national size)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    parser.add_argument("--markdown", type=Path, default=None,
                        help="also write the table and the machine as Markdown")
    parser.add_argument("--generate-only", action="store_true",
                        help="generate the databases and print their figures, measure nothing")
    args = parser.parse_args(argv)
    unknown = [m for m in args.only if m not in MEASURES]
    if unknown:
        parser.error(f"unknown measurement(s) {unknown}; choose among {', '.join(MEASURES)}")
    for name in args.size:
        try:
            size_named(name)
        except ValueError as exc:
            parser.error(str(exc))
    bad = [b for b in args.backend if b not in ("sqlite", "postgres")]
    if bad:
        parser.error(f"unknown backend(s) {bad}")
    return args


def paris_today() -> dt.date:
    from clauses.clock import Clock

    return Clock().today()


def run_measures(backends: Backends, args: argparse.Namespace, rulebook: Any,
                 log: Callable[[str], None], failures: list[str]) -> list[Row]:
    rows: list[Row] = []
    for size_name in args.size:
        size = size_named(size_name)
        for backend in args.backend:
            bench_db = backends.database(backend, size)
            if args.generate_only:
                if bench_db.cached:  # a fresh generation has just printed them
                    for line in bench_db.report.lines():
                        log(line)
                backends.release(bench_db)
                continue
            run = Run(bench_db, backends, rulebook, args.workdir, repeat=args.repeat, log=log)
            try:
                for name in args.only:
                    log(f"[{size.name}/{backend}] {name}")
                    module_name, _, function = MEASURES[name].partition(":")
                    measure = getattr(importlib.import_module(module_name), function or "run")
                    began = time.monotonic()
                    try:
                        produced = measure(run)
                    except Exception as exc:  # report it, go on with the other measurements
                        log(traceback.format_exc())
                        failures.append(f"{name} on {size.name}/{backend}: "
                                        f"{type(exc).__name__}: {str(exc)[:300]}")
                        continue
                    rows.extend(produced)
                    log(f"  ({time.monotonic() - began:.1f}s)")
            finally:
                backends.release(bench_db)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from clauses.rulebook import load_rulebook

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    today = args.today or paris_today()
    rulebook = load_rulebook("default")
    with Backends(args.workdir, pg_url=args.pg_url, seed=args.seed, today=today,
                  rulebook=rulebook, log=log, pg_build=args.pg_build) as backends:
        failures: list[str] = []
        rows = run_measures(backends, args, rulebook, log, failures)
        pg_version = backends.postgres_version() if "postgres" in args.backend else None
    if args.generate_only:
        return 0
    described = machine(pg_version)
    print(text_table(rows))
    print()
    for key, value in described.items():
        print(f"{key}: {value}")
    print(f"Generated with seed {args.seed}, today {today}.")
    for failure in failures:
        print(f"FAILED: {failure}")
    if args.json:
        args.json.write_text(json.dumps({"machine": described, "today": today.isoformat(),
                                         "seed": args.seed, "rows": [r.as_dict() for r in rows]},
                                        indent=2, ensure_ascii=False))
    if args.markdown:
        machine_lines = "\n".join(f"- **{k}**: {v}" for k, v in described.items())
        args.markdown.write_text(f"{markdown(rows)}\n\n{machine_lines}\n", encoding="utf-8")
    return 0 if rows and not failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
