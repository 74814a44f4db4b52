"""Measurement 2: importing a declaration spreadsheet (10,000 and 100,000 lines), against a
realistic alternative and against a raw floor (issue 20).

The product: the e-mail path a facilitator's (or a big employer's) spreadsheet takes —
:meth:`mail.intake.IntakeCore.ingest` of one message carrying an XLSX file: MIME parsing, the
raw message stored, the sender identified, every line parsed (:mod:`mail.spreadsheet`), matched,
validated, counted and recorded by :func:`clauses.declaration_batch.record_lines`
(declarations, revisions, audit rows), then the acknowledgement queued, all in one transaction.
The per-file limit (``MailConfig.max_sheet_rows``, 2,000 by default) is raised for the run.

Two baselines, because neither alone says whether the product is fast:

* the realistic alternative (:func:`realistic_import`): what a developer would write for the
  same e-mail — stock openpyxl, one lookup query, executemany of declarations and revisions.
  It is what a user could pick instead; goal ≤ 1x.
* the raw floor: the same (contract, month, hours, counted hours) rows, already parsed and
  matched, inserted with one ``executemany`` on the bare driver. Nobody can pick it (the rows
  must first be read from the file), it bounds the cost of the writes; goal ≤ 5x.

The rows are real declarations of the generated database, removed from a copy first, chosen so
that the person's name, the market and the lot designate one contract, as a company's file
does. The three sides run on that one copy in rotating order, each side's rows removed
(untimed) before the next; the first round is a warm-up and is dropped. After the product's
first round, the stored rows are compared with the generated ones (the generator's counted hours
were checked against :func:`clauses.counting.count_month`): same contract, month, work,
training and counted hours for every line.
"""

from __future__ import annotations

import datetime as dt
import gc
import io
import os
import time
from decimal import Decimal
from email.message import EmailMessage
from typing import Any

from bench.generator import month_date
from bench.harness import Row, Run, Timing
from bench.sql import RawSQL, as_date, raw
from storage.db import Database

LINES = 10_000
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CHUNK = 500


def pick_lines(run: Run, count: int) -> list[dict[str, Any]]:
    """``count`` declarations of the last year, spread evenly, each naming one contract; the
    whole history when the last year holds fewer (100,000 lines at territory size)."""
    last = month_date(run.today.year * 12 + run.today.month - 2)
    first = dt.date(run.bench_db.report.year, 1, 1)
    chosen = _pick(run, count, first, last)
    if len(chosen) < count:
        chosen = _pick(run, count, dt.date(1900, 1, 1), last)
    return chosen


def _pick(run: Run, count: int, first: dt.date, last: dt.date) -> list[dict[str, Any]]:
    with raw(run.db) as sql:
        rows = sql.all(
            """SELECT d.id, d.contract_id, d.month, d.work_hours, d.training_hours,
                      d.counted_hours, p.last_name, p.first_name, m.reference, l.number
            FROM hour_declarations d
            JOIN contracts c ON c.id = d.contract_id
            JOIN participants p ON p.id = c.participant_id
            JOIN engagements e ON e.id = c.engagement_id
            JOIN lots l ON l.id = e.lot_id
            JOIN markets m ON m.id = l.market_id
            WHERE d.month >= :first AND d.month <= :last AND d.revision = 1
              AND NOT EXISTS (SELECT 1 FROM contracts c2 JOIN engagements e2
                              ON e2.id = c2.engagement_id
                              WHERE c2.participant_id = c.participant_id
                                AND e2.lot_id = e.lot_id AND c2.id <> c.id)
            ORDER BY d.id""", {"first": first, "last": last})
    step = max(1, len(rows) // count)
    chosen = rows[::step][:count]
    return [{"id": r[0], "contract_id": r[1], "month": as_date(r[2]),
             "work": Decimal(str(r[3])).quantize(Decimal("0.01")),
             "training": Decimal(str(r[4])).quantize(Decimal("0.01")),
             "counted": Decimal(str(r[5])).quantize(Decimal("0.01")),
             "last": r[6], "first": r[7], "market": r[8], "lot": r[9]} for r in chosen]


def build_xlsx(lines: list[dict[str, Any]]) -> bytes:
    """The product's template columns, one line per declaration (openpyxl, write-only)."""
    from openpyxl import Workbook

    from mail.declaration_template import COLUMNS

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Déclaration")
    ws.append([c.header for c in COLUMNS])
    for line in lines:
        values = {"marche": line["market"], "lot": line["lot"], "nom": line["last"],
                  "prenom": line["first"], "mois": f"{line['month']:%m/%Y}",
                  "heures_travail": float(line["work"]),
                  "heures_formation": float(line["training"]), "motif_correction": None}
        ws.append([values[c.key] for c in COLUMNS])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def build_message(sender: str, to: str, xlsx: bytes, index: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = "Déclaration des heures d'insertion"
    msg["Message-ID"] = f"<bench-import-{index}-{time.time_ns()}@agence.test>"
    msg["Date"] = "Mon, 02 Nov 2026 09:00:00 +0100"
    msg.set_content("Bonjour,\n\nVeuillez trouver ci-joint la déclaration des heures.\n\nCordialement")
    msg.add_attachment(xlsx, maintype="application", subtype=XLSX.split("/", 1)[1],
                       filename="declarations.xlsx")
    return msg.as_bytes()


def facilitator_email(run: Run) -> str:
    with raw(run.db) as sql:
        return str(sql.one("SELECT email FROM users WHERE role = 'facilitateur' ORDER BY id "
                           "LIMIT 1")[0])


def remove_lines(db: Database, lines: list[dict[str, Any]]) -> None:
    with raw(db) as sql:
        if sql.dialect == "sqlite":
            sql.execute("BEGIN")
        ids = [line["id"] for line in lines]
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            marks = ", ".join(str(int(i)) for i in chunk)
            sql.execute(f"DELETE FROM declaration_revisions WHERE declaration_id IN ({marks})")
            sql.execute(f"DELETE FROM hour_declarations WHERE id IN ({marks})")
        sql.commit()


def baseline_insert(sql: RawSQL, lines: list[dict[str, Any]], now: dt.datetime) -> None:
    if sql.dialect == "sqlite":
        sql.execute("BEGIN")
    sql.executemany(
        "INSERT INTO hour_declarations (contract_id, month, work_hours, training_hours, "
        "counted_hours, revision, status, source, created_at, updated_at) VALUES (:contract_id, "
        ":month, :work, :training, :counted, 1, 'enregistree', 'email', :now, :now)",
        [{"contract_id": line["contract_id"], "month": line["month"],
          "work": float(line["work"]) if sql.dialect == "sqlite" else line["work"],
          "training": float(line["training"]) if sql.dialect == "sqlite" else line["training"],
          "counted": float(line["counted"]) if sql.dialect == "sqlite" else line["counted"],
          "now": now} for line in lines])
    sql.commit()


def stored(db: Database, lines: list[dict[str, Any]]) -> dict[tuple[int, dt.date], tuple]:
    out: dict[tuple[int, dt.date], tuple] = {}
    contracts = sorted({line["contract_id"] for line in lines})
    with raw(db) as sql:
        for start in range(0, len(contracts), CHUNK):
            marks = ", ".join(str(int(c)) for c in contracts[start:start + CHUNK])
            for cid, month, work, training, counted in sql.all(
                    "SELECT contract_id, month, work_hours, training_hours, counted_hours "
                    f"FROM hour_declarations WHERE contract_id IN ({marks})"):
                out[(int(cid), as_date(month))] = tuple(
                    Decimal(str(v)).quantize(Decimal("0.01")) for v in (work, training, counted))
    return out


def check(db: Database, lines: list[dict[str, Any]]) -> str:
    rows = stored(db, lines)
    wrong = [line for line in lines
             if rows.get((line["contract_id"], line["month"]))
             != (line["work"], line["training"], line["counted"])]
    if wrong:
        sample = wrong[0]
        raise AssertionError(
            f"{len(wrong)} of {len(lines)} lines not stored as generated, e.g. {sample} -> "
            f"{rows.get((sample['contract_id'], sample['month']))}")
    return f"all {len(lines):,} lines stored with the generated counted hours"


def product_import(run: Run, db: Database, message: bytes, uid: int, rows: int) -> dict[str, Any]:
    from mail.config import MailConfig
    from mail.intake import IntakeCore
    from mail.outcome import MailKey
    from storage.models import InboundMail

    ctx = run.context(db)
    cfg = MailConfig(agency_email="clauses@agence.test", max_sheet_rows=max(2000, rows + 10))
    core = IntakeCore(ctx, cfg)
    status = core.ingest(MailKey("bench@agence.test", "INBOX", 1, uid), message)
    with db.session() as s:
        row = s.query(InboundMail).order_by(InboundMail.id.desc()).first()
        result = dict(row.result or {}) if row is not None else {}
    result["status"] = str(status)
    return result


def realistic_import(sql: RawSQL, message: bytes, now: dt.datetime) -> int:
    """What a developer would write for the same e-mail without the product: the attachment
    taken out with the standard library, the sheet read by stock openpyxl (``read_only``,
    ``values_only``), the contracts found with ONE query (every contract of the file's markets,
    matched in Python on name, first name, market and lot), then one ``executemany`` of the
    declarations and one of their first revisions, in one transaction.

    It does less than the product, on purpose (the favourable side of the comparison): no
    header matching, no validation (months, ceilings, eligibility, existing months), no
    counting rules (counted = work + training), no idempotency key, no audit row, no raw
    message stored, no acknowledgement. Returns the number of lines recorded.
    """
    import email
    import email.policy

    from openpyxl import load_workbook

    from mail.declaration_template import COLUMNS

    parsed = email.message_from_bytes(message, policy=email.policy.default)
    data = next(part.get_content() for part in parsed.iter_attachments())
    wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        rows = wb.worksheets[0].iter_rows(values_only=True)
        header = [str(h or "").strip().lower() for h in next(rows)]
        col = {c.key: header.index(c.header) for c in COLUMNS}
        lines = []
        for values in rows:
            if not values or values[col["nom"]] is None:
                continue
            month_text = str(values[col["mois"]])
            lines.append((str(values[col["nom"]]).strip().lower(),
                          str(values[col["prenom"]] or "").strip().lower(),
                          str(values[col["marche"]] or "").strip(), int(values[col["lot"]]),
                          dt.date(int(month_text[3:7]), int(month_text[:2]), 1),
                          values[col["heures_travail"]] or 0,
                          values[col["heures_formation"]] or 0))
    finally:
        wb.close()
    references = sorted({line[2] for line in lines})
    marks = ", ".join(f":r{i}" for i in range(len(references)))
    contracts: dict[tuple[str, str, str, int], int] = {}
    for cid, last, first, reference, lot in sql.all(
            "SELECT c.id, p.last_name, p.first_name, m.reference, l.number FROM contracts c "
            "JOIN participants p ON p.id = c.participant_id "
            "JOIN engagements e ON e.id = c.engagement_id JOIN lots l ON l.id = e.lot_id "
            f"JOIN markets m ON m.id = l.market_id WHERE m.reference IN ({marks})",
            {f"r{i}": r for i, r in enumerate(references)}):
        contracts[(last.lower(), (first or "").lower(), reference, lot)] = cid
    number: Any = float if sql.dialect == "sqlite" else (lambda v: Decimal(str(v)))
    params = []
    for last, first, reference, lot, month, work, training in lines:
        params.append({"contract_id": contracts[(last, first, reference, lot)], "month": month,
                       "work": number(work), "training": number(training),
                       "counted": number(work) + number(training), "now": now})
    if sql.dialect == "sqlite":
        sql.execute("BEGIN")
    sql.executemany(
        "INSERT INTO hour_declarations (contract_id, month, work_hours, training_hours, "
        "counted_hours, revision, status, source, created_at, updated_at) VALUES (:contract_id, "
        ":month, :work, :training, :counted, 1, 'enregistree', 'email', :now, :now)", params)
    sql.executemany(
        "INSERT INTO declaration_revisions (declaration_id, revision, work_hours, training_hours, "
        "counted_hours, source, created_at) SELECT id, 1, work_hours, training_hours, "
        "counted_hours, source, created_at FROM hour_declarations "
        "WHERE contract_id = :contract_id AND month = :month",
        [{"contract_id": p["contract_id"], "month": p["month"]} for p in params])
    sql.commit()
    return len(params)


def undo(db: Database, lines: list[dict[str, Any]]) -> None:
    """Remove what a side recorded for these lines (untimed), so every side inserts into the
    same table state without copying a national database between sides."""
    keys = [{"contract_id": line["contract_id"], "month": line["month"]} for line in lines]
    with raw(db) as sql:
        if sql.dialect == "sqlite":
            sql.execute("BEGIN")
        sql.executemany(
            "DELETE FROM declaration_revisions WHERE declaration_id IN (SELECT id FROM "
            "hour_declarations WHERE contract_id = :contract_id AND month = :month)", keys)
        sql.executemany("DELETE FROM hour_declarations WHERE contract_id = :contract_id "
                        "AND month = :month", keys)
        sql.commit()


def line_counts(run: Run) -> list[int]:
    """10,000 and 100,000 lines by default; ``CLAUSEBOT_BENCH_IMPORT_LINES=10000`` for one."""
    text = str(run.extra.get("import_lines") or os.environ.get("CLAUSEBOT_BENCH_IMPORT_LINES")
               or f"{LINES},{LINES * 10}")
    return [int(n) for n in text.split(",") if n.strip()]


def run(run: Run) -> list[Row]:
    rows: list[Row] = []
    for count in line_counts(run):
        rows.extend(run_size(run, count))
    return rows


def run_size(run: Run, count: int) -> list[Row]:
    """Three sides on one copy, in rotating order, the first round dropped (warm-up): the
    product, the realistic alternative and the raw floor; each side's rows are removed
    (untimed) before the next side runs."""
    lines = pick_lines(run, count)
    if len(lines) < count:
        run.log(f"  only {len(lines):,} eligible lines at this size (asked {count:,})")
    xlsx = build_xlsx(lines)
    sender = facilitator_email(run)
    target = run.backends.clone(run.bench_db, f"import{count}_{os.getpid()}")
    samples: dict[str, list[float]] = {"product": [], "realistic": [], "floor": []}
    verdict = ""
    try:
        remove_lines(target, lines)
        rounds = 1 + max(3, run.repeat)
        for round_ in range(rounds):
            order = ["product", "realistic", "floor"]
            order = order[round_ % 3:] + order[:round_ % 3]
            if round_ % 2:
                order.reverse()
            timings: dict[str, float] = {}
            for side in order:
                message = build_message(sender, "clauses@agence.test", xlsx, round_)
                gc.collect()
                began = time.perf_counter()
                if side == "product":
                    result = product_import(run, target, message, round_ + 1, len(lines))
                elif side == "realistic":
                    with raw(target) as sql:
                        done = realistic_import(sql, message, dt.datetime.now(dt.UTC))
                else:
                    with raw(target) as sql:
                        baseline_insert(sql, lines, dt.datetime.now(dt.UTC))
                timings[side] = time.perf_counter() - began
                if side == "product":
                    if result.get("lines_recorded") != len(lines) or result.get("lines_refused"):
                        raise AssertionError(f"import did not record every line: {result}")
                    if not verdict:
                        verdict = check(target, lines)
                elif side == "realistic" and done != len(lines):
                    raise AssertionError(f"the realistic alternative recorded {done} lines")
                undo(target, lines)
                if round_ > 0:
                    samples[side].append(timings[side])
            run.log(f"  {len(lines):,} lines, round {round_ + 1}{' (warm-up)' if not round_ else ''}"
                    f" [{', '.join(order)}]: product {timings['product']:.2f}s, realistic "
                    f"{timings['realistic']:.2f}s, floor {timings['floor']:.3f}s")
    finally:
        run.backends.drop_clone(target)
    product = Timing(samples["product"])
    per_line = product.median / max(1, len(lines)) * 1000
    what = f"import of a {len(lines):,}-line declaration spreadsheet (XLSX by e-mail)"
    return [
        run.row(f"{what} vs stock openpyxl + one lookup + executemany", product,
                Timing(samples["realistic"]), goal=1.0, check=verdict,
                note=f"{per_line:.3f} ms per line; min {product.best:.2f}s"),
        run.row(f"{what} vs raw executemany floor", product, Timing(samples["floor"]), goal=5.0,
                check=verdict, note=f"floor min {Timing(samples['floor']).best:.3f}s"),
    ]
