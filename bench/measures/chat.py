"""Measurement 4: declaration-flow updates per second in process vs a bare PTB echo handler.

Both sides run python-telegram-bot 22 in this process against the same request stub: the
test-suite's local Bot API server (:class:`tests.servers.botapi.BotApiServer`, real HTTP on
loopback). Users' messages and button presses are queued on the server; the bot fetches them with
``getUpdates`` and hands each to ``Application.process_update``, its answers go back over HTTP.
Only that fetching and processing is timed, not the driver deciding what each user does next.

The product: :class:`bot.telegram_adapter.TelegramBot` around :class:`bot.core.ChatCore`
(update id claimed, conversation state loaded and saved, the flow step, the domain's checks and
the declaration itself, all in one transaction per update), with its flood limiter's global cap
lifted (Telegram's 30 messages/s is Telegram's limit, not the code's speed). Each company user
runs the guided ``/declarer`` flow to the end for one of its undeclared contracts of last month:
choose the lot and the contract when asked, the month, work and training hours, skip the proof,
confirm. The driver reads the bot's buttons to answer, like a person would.

The baseline: a bare PTB ``Application`` whose handlers echo every text and answer every button
with one message, fed the same number of updates of the same kinds in the same batches.

The check: every user's declaration is stored, for the contract and month aimed at.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from bench.harness import Row, Run
from bench.measures.intake import territory_facts

USERS = 40
MAX_STEPS = 12


@dataclass
class Target:
    tg_id: int
    contract_id: int
    lot_id: int
    month: Any
    actions: list[tuple[str, str]] = field(default_factory=list)
    done: bool = False
    failure: str | None = None


def pick_targets(run: Run, db: Any, count: int) -> list[Target]:
    """Company users with an undeclared contract of last month reachable through the buttons."""
    from bot.flows.declare import MAX_BUTTONS
    from clauses.actors import Actor
    from clauses.contract_lookup import declarable_contracts
    from clauses.counting import add_months, month_start
    from storage.models import Channel, Role, User

    facts = territory_facts(run)
    missing = {row[0]: row[6] for rows in facts["missing"].values() for row in rows}
    targets: list[Target] = []
    aimed: set[int] = set()
    with db.session() as s:
        users = s.query(User).filter(User.role == Role.ENTREPRISE,
                                     User.telegram_user_id.is_not(None)).order_by(User.id).all()
        previous = add_months(month_start(run.today), -1)  # the months /declarer offers
        for user in users:
            views = declarable_contracts(s, Actor.from_user(user, Channel.TELEGRAM),
                                         add_months(previous, -1), previous)
            lots: dict[int, list[Any]] = {}
            for v in views:
                lots.setdefault(v.lot_id, []).append(v)
            for lot_id in list(lots)[:MAX_BUTTONS]:
                # a contract is seen by its lot's holder and by its employer (ETTI, GEIQ...):
                # aim each at most once
                hit = next((v for v in lots[lot_id][:MAX_BUTTONS] if v.contract_id in missing
                            and v.contract_id not in aimed), None)
                if hit is not None:
                    aimed.add(hit.contract_id)
                    targets.append(Target(int(user.telegram_user_id), hit.contract_id, lot_id,
                                          missing[hit.contract_id]))
                    break
            if len(targets) >= count:
                break
        s.rollback()  # the listing wrote audit rows: not part of the scenario
    return targets


def next_action(target: Target, message: Any) -> tuple[str, str] | None:
    """What the user does after the bot's last message (None: finished)."""
    text = message.text or ""
    data = message.callback_data()
    if "Déclaration enregistrée" in text:
        return None
    if any(d.startswith("d:ok:") for d in data):
        return "button", next(d for d in data if d.startswith("d:ok:"))
    if "d:skip" in data:
        return "button", "d:skip"
    if any(d.startswith("d:lot:") for d in data):
        return "button", f"d:lot:{target.lot_id}"
    if any(d.startswith("d:ct:") for d in data):
        return "button", f"d:ct:{target.contract_id}"
    if any(d.startswith("d:m:") for d in data):
        return "button", f"d:m:{target.month:%Y-%m}"
    if "heures de travail" in text:
        return "text", "35,5"
    if "heures de formation" in text:
        return "text", "0"
    raise LookupError(f"unexpected bot message: {text[:200]!r} {data}")


LATENCY = 0.05
"""Seconds each Bot API call takes, like Telegram's cloud seen from a French data centre."""
CONCURRENCY_BEFORE = 1
"""The adapter as it was: each update awaited before the next (one slot of the dispatcher)."""


async def wait_confirmed(server: Any, update_ids: list[int]) -> None:
    """Until the bot confirmed every update (handled, committed, answered)."""
    pending = set(update_ids)
    while pending:
        await asyncio.sleep(0.002)
        pending = {u for u in pending if not server.is_confirmed(u)}


async def wait_answered(server: Any, expected: dict[int, int]) -> None:
    """Until every echo user got the number of messages expected."""
    while any(len(server.sent_messages(chat)) < n for chat, n in expected.items()):
        await asyncio.sleep(0.002)


async def product_round(run: Run, db: Any, targets: list[Target], concurrency: int
                        ) -> tuple[int, float]:
    """The real adapter (``TelegramBot.poll``: getUpdates, dispatcher, ChatCore) against a
    fresh server 50 ms away; each step timed from the users' sending to the last confirmation."""
    from bot.core import ChatCore
    from bot.ratelimit import FloodLimiter
    from bot.telegram_adapter import TelegramBot
    from tests.servers.botapi import BotApiServer

    with BotApiServer() as server:
        server.latency = LATENCY
        tg = TelegramBot(ChatCore(run.context(db)), server.token, base_url=server.bot_base_url,
                         base_file_url=server.file_base_url, poll_timeout=5,
                         limiter=FloodLimiter(global_rate=1_000_000), concurrency=concurrency)
        app = tg.application
        await app.initialize()
        stop = asyncio.Event()
        poller = asyncio.create_task(tg.poll(stop))
        users = {t.tg_id: server.user(id=t.tg_id, first_name="Chef") for t in targets}
        total, seconds = 0, 0.0
        try:
            for t in targets:
                t.actions, t.done, t.failure = [("text", "/declarer")], False, None
            sent = [server.send_text(users[t.tg_id], "/declarer") for t in targets]
            for _step in range(MAX_STEPS):
                began = time.perf_counter()
                await wait_confirmed(server, sent)
                total, seconds = total + len(sent), seconds + time.perf_counter() - began
                sent = []
                for t in [t for t in targets if not t.done and t.failure is None]:
                    try:
                        action = next_action(t, server.last_message(t.tg_id))
                    except LookupError as exc:
                        t.failure = str(exc)
                        continue
                    if action is None:
                        t.done = True
                        continue
                    t.actions.append(action)
                    kind, value = action
                    if kind == "text":
                        sent.append(server.send_text(users[t.tg_id], value))
                    else:
                        sent.append(server.press_button(users[t.tg_id],
                                                        server.last_message(t.tg_id), value))
                if not sent:
                    break
        finally:
            stop.set()
            await poller
            await app.shutdown()
    return total, seconds


async def baseline_round(targets: list[Target], transport: str = "aiohttp") -> tuple[int, float]:
    """PTB's own way of serving many users: its Updater polling, ``concurrent_updates``, an
    echo handler (no database), same latency, the same updates in the same steps.

    ``transport``: ``aiohttp`` — the product's own HTTP transport (:mod:`bot.http_request`), so
    that the two sides differ only by what the product does per update; ``httpx`` — PTB's
    default ``HTTPXRequest`` (64 connections), the echo as it was measured before: its
    connection pool, quadratic in the requests in flight, capped it at a few times the
    sequential rate (see docs/benchmarks.md, 4b, fourth round)."""
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
    from telegram.ext import Application, CallbackQueryHandler, MessageHandler, filters

    from bot.http_request import AiohttpRequest
    from tests.servers.botapi import BotApiServer

    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data="ok")]])

    async def echo(update: Update, _context: Any) -> None:
        assert update.message is not None
        await update.message.reply_text(update.message.text or "?", reply_markup=keyboard)

    async def pressed(update: Update, _context: Any) -> None:
        query = update.callback_query
        assert query is not None and query.message is not None
        await asyncio.gather(query.answer(),
                             query.message.reply_text("ok", reply_markup=keyboard))  # type: ignore[union-attr]

    with BotApiServer() as server:
        server.latency = LATENCY
        builder = (Application.builder().token(server.token).base_url(server.bot_base_url)
                   .base_file_url(server.file_base_url).concurrent_updates(True))
        if transport == "httpx":
            builder = builder.connection_pool_size(64)
        else:
            builder = (builder.request(AiohttpRequest(128))
                       .get_updates_request(AiohttpRequest(2, read_timeout=15.0)))
        app = builder.build()
        app.add_handler(MessageHandler(filters.ALL, echo))
        app.add_handler(CallbackQueryHandler(pressed))
        await app.initialize()
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=5)
        users = {t.tg_id: server.user(id=t.tg_id + 7_000_000, first_name="Echo") for t in targets}
        expected = {u.id: 0 for u in users.values()}
        total, seconds = 0, 0.0
        try:
            longest = max(len(t.actions) for t in targets)
            for step in range(longest):
                began = time.perf_counter()
                for t in targets:
                    if step >= len(t.actions):
                        continue
                    kind, value = t.actions[step]
                    user = users[t.tg_id]
                    if kind == "text":
                        server.send_text(user, value)
                    else:
                        server.press_button(user, server.last_message(user.id), "ok")
                    expected[user.id] += 1
                    total += 1
                await wait_answered(server, expected)
                seconds += time.perf_counter() - began
        finally:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()
    return total, seconds


def check(db: Any, targets: list[Target]) -> int:
    from sqlalchemy import select

    from storage.models import HourDeclaration

    failures = [t for t in targets if not t.done]
    if failures:
        first = failures[0]
        raise AssertionError(f"{len(failures)} flows did not finish: "
                             f"{first.failure or 'too many steps'} {first.actions}")
    with db.session() as s:
        found = set(s.execute(select(HourDeclaration.contract_id, HourDeclaration.month)
                              .where(HourDeclaration.source == "telegram",
                                     HourDeclaration.contract_id.in_(
                                         [t.contract_id for t in targets]))).all())
    missing = [t for t in targets if (t.contract_id, t.month) not in found]
    if missing:
        raise AssertionError(f"{len(missing)} declarations not stored, e.g. {missing[0]}")
    return len(targets)


def run(run: Run) -> list[Row]:
    """Before (one update at a time), after (the dispatcher), the concurrent echo bot on the
    product's transport and on PTB's default one: alternated order each round, the first round
    a dropped warm-up."""
    from bot.dispatch import DEFAULT_CONCURRENCY

    count = int(run.extra.get("chat_users", USERS))
    targets: list[Target] = []
    rounds = max(3, min(run.repeat, 5))
    rates: dict[str, list[float]] = {"before": [], "after": [], "echo": [], "echo-httpx": []}
    updates = 0
    verdict = ""
    for round_ in range(1 + rounds):
        order = ["before", "after", "echo", "echo-httpx"]
        order = order[round_ % 4:] + order[:round_ % 4]  # each goes first in turn
        for variant in order:
            if variant.startswith("echo"):
                if not targets:  # the echo replays the product's actions: run after one
                    continue
                b_n, b_seconds = asyncio.run(baseline_round(
                    targets, "httpx" if variant == "echo-httpx" else "aiohttp"))
                if b_n != updates:
                    raise AssertionError(f"baseline processed {b_n} updates, product {updates}")
                rate = b_n / b_seconds
            else:
                clone = run.backends.clone(run.bench_db, f"chat{round_}{variant}")
                try:
                    targets = pick_targets(run, clone, count)
                    if not targets:
                        raise AssertionError("no company user has an undeclared contract")
                    n, seconds = asyncio.run(product_round(
                        run, clone, targets, CONCURRENCY_BEFORE if variant == "before"
                        else DEFAULT_CONCURRENCY))
                    stored = check(clone, targets)
                    updates = n
                    rate = n / seconds
                    verdict = (f"{stored} users declared through the guided flow, {n} updates, "
                               "every declaration stored")
                finally:
                    run.backends.drop_clone(clone)
            run.log(f"  round {round_ + 1}{' (warm-up)' if round_ == 0 else ''}: "
                    f"{variant} {rate:.1f} updates/s")
            if round_ > 0:
                rates[variant].append(rate)
    median = {k: statistics.median(v) for k, v in rates.items()}
    best = {k: max(v) for k, v in rates.items()}
    per = updates / max(1, len(targets))
    rows = [
        run.row(f"chat at {LATENCY * 1000:.0f} ms Bot API latency: after vs before (updates/s)",
                median["after"], median["before"], goal=0.1, unit="upd/s",
                lower_is_better=False, check=verdict,
                note=f"before = one update at a time (the adapter until now); ratio = before ÷ "
                     f"after, goal ≥ 10× faster; best {best['after']:.1f} vs "
                     f"{best['before']:.1f}; {per:.1f} updates per declaration"),
        run.row(f"chat at {LATENCY * 1000:.0f} ms Bot API latency: after vs PTB concurrent "
                "echo (updates/s)",
                median["after"], median["echo"], goal=1.5, unit="upd/s",
                lower_is_better=False, check=verdict,
                note=f"baseline = PTB Updater + concurrent_updates echo, no database, the "
                     f"product's HTTP transport (aiohttp); ratio = slowdown; best "
                     f"{best['after']:.1f} vs {best['echo']:.1f}; the echo is "
                     f"{median['echo'] / median['before']:.1f}× the sequential adapter"),
        run.row(f"chat at {LATENCY * 1000:.0f} ms Bot API latency: after vs PTB concurrent "
                "echo on PTB's default HTTP stack (httpx, updates/s)",
                median["after"], median["echo-httpx"], goal=1.5, unit="upd/s",
                lower_is_better=False, check=verdict,
                note=f"the baseline as measured until the fourth round; its echo is "
                     f"{median['echo-httpx'] / median['before']:.1f}× the sequential adapter; "
                     f"best {best['after']:.1f} vs {best['echo-httpx']:.1f}"),
    ]
    return rows
