"""Measurement 3: e-mail intake in ms per e-mail, against a fetch + MOVE + commit floor (issue 20).

The product: :meth:`mail.imap_intake.ImapIntake.run_once` on a real Dovecot (the test-suite's
server): list the UIDs, read their sizes, and for each message fetch it with BODY.PEEK[], process
it in one transaction (:mod:`mail.processing`: store the raw message, identify the sender,
classify, act, queue the reply), then MOVE the committed messages, in batches, to their folders.

The baseline is the floor of any intake that keeps the product's exactly-once discipline (store
first, then move): the same messages, over one imapclient connection, each fetched with
BODY.PEEK[] and stored as one row in its own committed transaction on the same database copy,
then moved in the same batches of 100 (:mod:`bench.measures.intake_floor`). Since the product
fetches and commits new messages by batches (:data:`mail.intake.INGEST_BATCH`), a second
floor does the same by the same batches: a second row judges the product against it, the
honest floor of a batched intake (the first row keeps the earlier rows' baseline). What the product
adds on top is the work a user asks of it (parsing, sender identification, the declaration or
candidature, the reply); a read-only fetch loop, the earlier baseline, left out the two costs
an intake cannot skip (a commit per message, a MOVE).

The 1,000 messages are an agency's mailbox mix, built from the generated territory: 45 %
declaration files (CSV or XLSX, one to three undeclared months of the sender's own contracts),
15 % candidatures with a CV from prescribers, 15 % questions from companies, 10 % unknown
senders, 5 % templates asked for, 5 % points d'étape asked by référents, 5 % out-of-office
replies. They are built once; each round appends them (untimed) to two fresh mailboxes, one for
the product and one for the floor, on a fresh copy of the database, then runs both, in an order
that alternates from round to round. The first round is a warm-up and is dropped; the row gives
the median of the others (``--repeat``, at least 3) and the note the minimum. The check is that
every message was processed and moved, none crashed. ``BENCH_INTAKE_MESSAGES=300`` takes fewer
messages (the same mix) when the machine is busy.
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import io
import os
import random
import time
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from bench.generator import month_date
from bench.harness import Row, Run, Timing
from bench.measures.imports import XLSX
from bench.measures.intake_floor import floor_intake, prepare_floor
from bench.names import person_name
from bench.sql import as_date, raw
from mail.intake import INGEST_BATCH

MESSAGES = 1000
AGENCY = "clauses@agence.test"
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
    b"xref\n0 4\n0000000000 65535 f \n0000000009 00000 n \n0000000052 00000 n \n"
    b"0000000101 00000 n \ntrailer<</Size 4/Root 1 0 R>>\nstartxref\n160\n%%EOF\n"
)
MIX = (("declaration", 0.45), ("candidature", 0.15), ("question", 0.15), ("inconnu", 0.10),
       ("modele", 0.05), ("point", 0.05), ("absence", 0.05))


def _mail(sender: str, subject: str, text: str, *, attachments: tuple = (),
          headers: dict[str, str] | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = AGENCY
    msg["Subject"] = subject
    msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    msg["Message-ID"] = make_msgid(domain="bench.test")
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text)
    for filename, data, mime in attachments:
        maintype, _, subtype = mime.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def _sheet(lines: list[tuple], kind: str) -> tuple[str, bytes, str]:
    from mail.declaration_template import COLUMNS

    def values(line: tuple) -> dict[str, Any]:
        _cid, _company, last, first, ref, lot, month = line
        hours = 20 + (hash((last, first)) % 120)
        return {"marche": ref, "lot": lot, "nom": last, "prenom": first,
                "mois": f"{month:%m/%Y}", "heures_travail": hours, "heures_formation": 0,
                "motif_correction": ""}

    if kind == "csv":
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";")
        writer.writerow([c.header for c in COLUMNS])
        for line in lines:
            v = values(line)
            writer.writerow([str(v[c.key]).replace(".", ",") for c in COLUMNS])
        return "declaration.csv", ("\ufeff" + out.getvalue()).encode("utf-8"), "text/csv"
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "Déclaration"
    ws.append([c.header for c in COLUMNS])
    for line in lines:
        v = values(line)
        ws.append([v[c.key] for c in COLUMNS])
    buffer = io.BytesIO()
    wb.save(buffer)
    return "declaration.xlsx", buffer.getvalue(), XLSX


def territory_facts(run: Run) -> dict[str, Any]:
    """Who writes to the agency in the generated territory, and what they could declare."""
    last = month_date(run.today.year * 12 + run.today.month - 2)
    nxt = month_date(run.today.year * 12 + run.today.month - 1)
    with raw(run.db) as sql:
        missing = sql.all(
            """SELECT c.id, e.company_id, p.last_name, p.first_name, m.reference, l.number
            FROM contracts c JOIN engagements e ON e.id = c.engagement_id
            JOIN lots l ON l.id = e.lot_id JOIN markets m ON m.id = l.market_id
            JOIN participants p ON p.id = c.participant_id
            WHERE c.start_date < :next AND (c.end_date IS NULL OR c.end_date >= :month)
              AND COALESCE(l.start_date, m.start_date) < :next
              AND COALESCE(l.end_date, m.end_date) >= :month
              AND NOT EXISTS (SELECT 1 FROM hour_declarations d
                              WHERE d.contract_id = c.id AND d.month = :month)
              AND NOT EXISTS (SELECT 1 FROM contracts c2 JOIN engagements e2
                              ON e2.id = c2.engagement_id
                              WHERE c2.participant_id = c.participant_id
                                AND e2.lot_id = e.lot_id AND c2.id <> c.id)
            ORDER BY e.company_id, c.id""", {"month": last, "next": nxt})
        companies = dict(sql.all("SELECT company_id, email FROM contacts "
                                 "WHERE kind = 'entreprise' ORDER BY company_id"))
        prescribers = [r[0] for r in sql.all("SELECT email FROM contacts WHERE kind = "
                                             "'prescripteur' ORDER BY id")]
        referents = sql.all(
            "SELECT c.email, MIN(m.reference) FROM contacts c JOIN markets m "
            "ON m.donneur_id = c.donneur_id WHERE c.kind = 'referent' AND m.status = 'en_cours' "
            "GROUP BY c.email ORDER BY c.email")
    by_company: dict[int, list[tuple]] = {}
    for row in missing:
        by_company.setdefault(int(row[1]), []).append((*row, as_date(last)))
    return {"missing": by_company, "companies": companies, "prescribers": prescribers,
            "referents": referents}


def build_mailbox(facts: dict[str, Any], count: int, seed: int) -> tuple[list[bytes], dict]:
    """``count`` messages of the agency's mix (see the module docstring)."""
    rng = random.Random(seed)
    kinds_rng = random.Random(seed)  # its own stream: the same sequence of kinds at every size
    missing = {k: list(v) for k, v in facts["missing"].items()}
    declaring = sorted(missing)
    companies = sorted(facts["companies"])
    kinds: dict[str, int] = {}
    out: list[bytes] = []
    for i in range(count):
        x, kind = kinds_rng.random(), MIX[-1][0]
        for name, weight in MIX:
            x -= weight
            if x <= 0:
                kind = name
                break
        if kind == "point" and not facts["referents"]:
            kind = "question"
        if kind == "declaration" and not any(missing.values()):
            kind = "question"
        kinds[kind] = kinds.get(kind, 0) + 1
        company = rng.choice(companies)
        email = facts["companies"][company]
        if kind == "declaration":
            company = rng.choice([c for c in declaring if missing[c]])
            pool = missing[company]
            lines = [pool.pop() for _ in range(min(len(pool), rng.randint(1, 3)))]
            sheet = _sheet(lines, "csv" if i % 2 else "xlsx")
            out.append(_mail(facts["companies"][company], "Déclaration des heures",
                             "Bonjour,\n\nCi-joint notre déclaration du mois.\n\nCordialement",
                             attachments=(sheet,)))
        elif kind == "candidature":
            last, first = person_name(1_500_000 + seed * count + i, "F")
            out.append(_mail(rng.choice(facts["prescribers"]), f"Candidature {first} {last}",
                             f"Bonjour,\n\nNom : {last}\nPrénom : {first}\nCritères : RSA\n\n"
                             "Merci de votre retour.",
                             attachments=(("cv.pdf", PDF, "application/pdf"),)))
        elif kind == "question":
            out.append(_mail(email, f"Question chantier {i}",
                             "Bonjour,\n\nPouvez-vous me rappeler au sujet du chantier ?\n\nMerci"))
        elif kind == "inconnu":
            out.append(_mail(f"newsletter{i}@inconnu.test", "Offre spéciale",
                             "Découvrez nos offres du mois."))
        elif kind == "modele":
            out.append(_mail(email, "Modèle de déclaration",
                             "Bonjour,\n\nPouvez-vous m'envoyer le modèle de déclaration ?"))
        elif kind == "point":
            referent, reference = rng.choice(facts["referents"])
            out.append(_mail(referent, f"Point d'étape du marché {reference}",
                             "Bonjour,\n\nPourriez-vous m'envoyer le point d'étape ?"))
        else:
            out.append(_mail(email, "Absence du bureau", "Je suis absent jusqu'au 3 décembre.",
                             headers={"Auto-Submitted": "auto-replied"}))
    return out, kinds


def fill_mailbox(account: Any, messages: list[bytes]) -> None:
    with account.client() as client:
        for start in range(0, len(messages), 100):  # MULTIAPPEND: one command per 100
            client.multiappend("INBOX", messages[start:start + 100])


def product_intake(run: Run, db: Any, account: Any) -> Any:
    """The product's intake of ``account``'s INBOX, with a document store of its own: the rounds
    send the same messages, and in the bench's shared store the timed rounds found the warm-up's
    files there and skipped their write and fsync, which a real intake (new messages) pays."""
    import shutil
    import tempfile
    from pathlib import Path

    from mail.config import ImapConfig, MailConfig
    from mail.imap_intake import ImapIntake
    from mail.intake import IntakeCore
    from storage.documents import DocumentStore

    imap = ImapConfig(host=account.host, port=account.port, ssl=False, username=account.user,
                      password=account.password)
    cfg = MailConfig(agency_email=AGENCY, imap=imap)
    ctx = run.context(db)
    store = Path(tempfile.mkdtemp(prefix="intake-documents-", dir=run.workdir))
    ctx.documents = DocumentStore(store)
    try:
        return ImapIntake(IntakeCore(ctx, cfg), imap).run_once()
    finally:
        shutil.rmtree(store, ignore_errors=True)


def outcomes(db: Any) -> dict[str, int]:
    with raw(db) as sql:
        return {str(k): int(n) for k, n in sql.all(
            "SELECT kind, COUNT(*) FROM inbound_mail GROUP BY kind ORDER BY kind")}


def run(run: Run) -> list[Row]:
    count = int(run.extra.get("intake_messages", os.environ.get("BENCH_INTAKE_MESSAGES", MESSAGES)))
    facts = territory_facts(run)
    dovecot = run.backends.dovecot()
    rounds = 1 + max(3, run.repeat)  # a dropped warm-up, then at least 3 timed rounds
    messages, kinds = build_mailbox(facts, count, seed=0)
    measured: list[float] = []
    floor: list[float] = []
    floor_batched: list[float] = []
    verdict = ""
    sides = ("floor", "product", "batched")
    for round_ in range(rounds):
        accounts = {side: dovecot.add_user() for side in sides}
        clone = run.backends.clone(run.bench_db, f"intake{round_}")
        try:
            for account in accounts.values():
                fill_mailbox(account, messages)
            prepare_floor(clone, accounts["floor"])
            prepare_floor(clone, accounts["batched"])
            took: dict[str, float] = {}
            order = sides[round_ % 3:] + sides[:round_ % 3]  # each side first in turn
            for which in order:
                gc.collect()
                began = time.perf_counter()
                if which == "product":
                    stats = product_intake(run, clone, accounts["product"])
                elif which == "floor":
                    floor_count = floor_intake(clone, accounts["floor"])
                else:
                    batched_count = floor_intake(clone, accounts["batched"], batch=INGEST_BATCH)
                took[which] = time.perf_counter() - began
            if floor_count != count or batched_count != count:
                raise AssertionError(f"floors stored and moved {floor_count} and {batched_count} "
                                     f"of {count} messages")
            if stats.processed != count or stats.moved != count:
                raise AssertionError(f"intake processed {stats.processed}, moved {stats.moved}")
            kinds_done = outcomes(clone)
            if kinds_done.get("erreur_interne"):
                raise AssertionError(f"{kinds_done['erreur_interne']} messages crashed: {kinds_done}")
            for account in accounts.values():
                if account.folder_uids("INBOX"):
                    raise AssertionError("messages left in INBOX after the intake")
            if round_ == 0:
                verdict = (f"all {count:,} processed and moved; outcomes "
                           + ", ".join(f"{k} {v}" for k, v in sorted(kinds_done.items())))
            else:
                measured.append(took["product"] / count * 1000)
                floor.append(took["floor"] / count * 1000)
                floor_batched.append(took["batched"] / count * 1000)
            run.log(f"  round {round_ + 1}{' (warm-up)' if round_ == 0 else ''}: "
                    f"{' then '.join(order)}; intake {took['product'] / count * 1000:.1f} ms/e-mail, "
                    f"floor {took['floor'] / count * 1000:.1f} ms/e-mail, batched floor "
                    f"{took['batched'] / count * 1000:.1f} ms/e-mail")
        finally:
            run.backends.drop_clone(clone)
            for account in accounts.values():
                dovecot.remove_user(account.user)
    product, baseline, batched = Timing(measured), Timing(floor), Timing(floor_batched)
    rows = []
    for what, base in (("fetch + commit + batched MOVE floor, a transaction a message", baseline),
                       (f"the same floor by batches of {INGEST_BATCH} as the product", batched)):
        rows.append(run.row(
            f"e-mail intake, per e-mail, of {count:,} messages (IMAP, Dovecot), vs {what}",
            product, base, goal=3.0, unit="ms", check=verdict,
            note=(f"min {product.best:.1f} / median {product.median:.1f} ms, floor min "
                  f"{base.best:.1f} / median {base.median:.1f} ms, {len(measured)} rounds "
                  f"(three sides alternated) after a warm-up; mix {kinds}")))
    return rows
