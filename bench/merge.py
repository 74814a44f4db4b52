"""``python -m bench.merge a.json b.json ...``: one Markdown table from several runs' JSON output.

The national sizes are run one at a time (they are heavy); this puts their rows and the
territory's into the single table of docs/benchmarks.md, grouped by measurement.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from bench.harness import Row
from bench.report import markdown

ORDER = ("annual bilan, one", "annual bilan, whole", "import", "e-mail intake", "chat",
         "scheduler", "peak RSS")
SIZES = ("tiny", "small", "territory", "national")
BACKENDS = ("sqlite", "postgres")


def row_from(data: dict[str, Any]) -> Row:
    unit = data["unit"]
    absolute = data.get("absolute_goal")
    goal = data.get("goal_ratio")
    text = str(data.get("goal", ""))
    if absolute is None and unit in text:
        absolute = float(re.sub(r"[^\d.]", "", text.replace(unit, "")))
    if goal is None:
        goal = absolute if absolute is not None else float(re.sub(r"[^\d.]", "", text))
    return Row(data["measurement"], data["size"], data["backend"], data["measured"],
               data["baseline"], unit, goal, data.get("check", ""), data.get("note", ""),
               data.get("lower_is_better", unit != "upd/s"), absolute,
               measured_best=data.get("measured_best"), baseline_best=data.get("baseline_best"),
               rounds=data.get("rounds"))


def _rank(row: Row) -> tuple[int, int, int]:
    kind = next((i for i, prefix in enumerate(ORDER) if row.measurement.startswith(prefix)),
                len(ORDER))
    return (kind, SIZES.index(row.size) if row.size in SIZES else 9,
            BACKENDS.index(row.backend) if row.backend in BACKENDS else 9)


def merge(paths: list[Path]) -> str:
    rows = [row_from(r) for p in paths for r in json.loads(p.read_text())["rows"]]
    return markdown(sorted(rows, key=_rank))


if __name__ == "__main__":
    print(merge([Path(p) for p in sys.argv[1:]]))
