"""The results table and the description of the machine it was measured on."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
from collections.abc import Sequence
from importlib import metadata

from bench.harness import Row

HEADER = ("Measurement", "Size", "Backend", "Product median (best)", "Baseline median (best)",
          "Ratio of medians", "Goal", "Met", "Check", "Note")


def _fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:,.1f} ms" if value < 1 else f"{value:,.2f} s"
    if unit == "MB":
        return f"{value:,.1f} MB"
    return f"{value:,.1f} {unit}"


def _with_best(median: float, best: float | None, unit: str) -> str:
    """``median (best)``: the best round beside the median when several rounds were timed."""
    if best is None or best == median:
        return _fmt(median, unit)
    return f"{_fmt(median, unit)} ({_fmt(best, unit)})"


def cells(row: Row) -> tuple[str, ...]:
    rounds = f"; {row.rounds} rounds" if row.rounds else ""
    note = f"{row.note}{rounds}" if row.note else rounds.removeprefix("; ")
    return (row.measurement, row.size, row.backend,
            _with_best(row.measured, row.measured_best, row.unit),
            _with_best(row.baseline, row.baseline_best, row.unit), f"{row.ratio:.2f}x",
            row.goal_text,
            "yes" if row.met else "NO", row.check, note)


def markdown(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in rows:
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells(row)) + " |")
    return "\n".join(lines)


def text_table(rows: Sequence[Row]) -> str:
    """A plain table for the terminal (the Check and Note columns last, unpadded)."""
    data = [HEADER] + [cells(r) for r in rows]
    fixed = len(HEADER) - 2
    widths = [max(len(r[i]) for r in data) for i in range(fixed)]
    out = []
    for index, r in enumerate(data):
        out.append("  ".join(r[i].ljust(widths[i]) for i in range(fixed)) + "  " +
                   " ; ".join(x for x in r[fixed:] if x))
        if index == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _mem_total_gb() -> float:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def _dovecot_version() -> str:
    for binary in ("dovecot", "/usr/sbin/dovecot"):
        try:
            out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=5)
            if out.returncode == 0:
                return out.stdout.split()[0]
        except (OSError, subprocess.SubprocessError):
            continue
    return "?"


def machine(postgres_version: str | None = None) -> dict[str, str]:
    return {
        "CPU": f"{os.cpu_count()} × {_cpu_model()} (nproc {len(os.sched_getaffinity(0))})",
        "RAM": f"{_mem_total_gb():.1f} GB",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "PostgreSQL": postgres_version or "not started",
        "Dovecot": _dovecot_version(),
        "Libraries": ", ".join(f"{p} {_version(p)}" for p in
                               ("SQLAlchemy", "psycopg", "python-telegram-bot", "IMAPClient",
                                "APScheduler", "openpyxl")),
    }
