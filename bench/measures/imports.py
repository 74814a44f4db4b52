"""Measurement 2: importing a 10,000-line declaration spreadsheet vs a raw executemany.

The product: the e-mail path a facilitator's (or a big employer's) spreadsheet takes —
:meth:`mail.intake.IntakeCore.ingest` of one message carrying an XLSX file: MIME parsing, the
raw message stored, the sender identified, every line parsed (:mod:`mail.spreadsheet`), matched
to its contract (:func:`clauses.declarations.find_contract`) and recorded
(:func:`clauses.declarations.record_declaration`: validation, counted hours, revision, audit),
then the acknowledgement queued, all in one transaction. The per-file limit
(``MailConfig.max_sheet_rows``, 2,000 by default) is raised to the file's size for the run.

The baseline: the same 10,000 (contract, month, hours, counted hours) rows inserted with one
``executemany`` on the bare driver, in one transaction.

The rows are real declarations of the generated database, removed from a copy before each round
(so both sides insert into the same table state), chosen so that the person's name, the market
and the lot designate one contract, as a company's file does. After the product's round, the
stored rows are compared with the generated ones (the generator's counted hours were checked
against :func:`clauses.counting.count_month`): same contract, month, work, training and counted
hours for every line.
"""

from __future__ import annotations

import datetime as dt
import io
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
    """``count`` declarations of the last year, spread evenly, each naming one contract."""
    last = month_date(run.today.year * 12 + run.today.month - 2)
    first = dt.date(run.bench_db.report.year, 1, 1)
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


def run(run: Run) -> list[Row]:
    count = int(run.extra.get("import_lines", LINES))
    lines = pick_lines(run, count)
    if len(lines) < count:
        run.log(f"  only {len(lines)} eligible lines at this size")
    xlsx = build_xlsx(lines)
    sender = facilitator_email(run)
    prepared = run.backends.clone(run.bench_db, "import_prep")
    try:
        remove_lines(prepared, lines)
        rounds = max(1, min(run.repeat, 3))
        measured: list[float] = []
        baseline: list[float] = []
        verdict = ""
        for round_ in range(rounds):
            target = run.backends.clone(prepared, f"import_b{round_}")
            try:
                with raw(target) as sql:
                    began = time.perf_counter()
                    baseline_insert(sql, lines, dt.datetime.now(dt.UTC))
                    baseline.append(time.perf_counter() - began)
                if round_ == 0:
                    check(target, lines)
            finally:
                run.backends.drop_clone(target)
            target = run.backends.clone(prepared, f"import_m{round_}")
            try:
                message = build_message(sender, "clauses@agence.test", xlsx, round_)
                began = time.perf_counter()
                result = product_import(run, target, message, round_ + 1, len(lines))
                measured.append(time.perf_counter() - began)
                if result.get("lines_recorded") != len(lines) or result.get("lines_refused"):
                    raise AssertionError(f"import did not record every line: {result}")
                if round_ == 0:
                    verdict = check(target, lines)
            finally:
                run.backends.drop_clone(target)
            run.log(f"  round {round_ + 1}: product {measured[-1]:.2f}s, "
                    f"executemany {baseline[-1]:.3f}s")
    finally:
        run.backends.drop_clone(prepared)
    per_line = Timing(measured).median / max(1, len(lines)) * 1000
    return [run.row(f"import of a {len(lines):,}-line declaration spreadsheet (XLSX by e-mail)",
                    Timing(measured), Timing(baseline), goal=3.0, check=verdict,
                    note=f"{per_line:.2f} ms per line")]
