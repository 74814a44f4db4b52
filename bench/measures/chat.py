"""Measurement 4: declaration-flow updates per second in process vs a bare PTB echo handler.

Both sides run python-telegram-bot 22 in this process against the same request stub: the
test-suite's local Bot API server (:class:`tests.servers.botapi.BotApiServer`, real HTTP on
loopback, 50 ms per call), run in a child process like Telegram is (:class:`BotApiHost`). Users'
messages and button presses are queued on the server; the bot fetches them with ``getUpdates``
and hands each to ``Application.process_update``, its answers go back over HTTP. Only that
fetching and processing is timed, not the driver deciding what each user does next.

The product: :class:`bot.telegram_adapter.TelegramBot` around :class:`bot.core.ChatCore`
(update id claimed, conversation state loaded and saved, the flow step, the domain's checks and
the declaration itself, all in one transaction per update), with its flood limiter's global cap
lifted (Telegram's 30 messages/s is Telegram's limit, not the code's speed). Each company user
runs the guided ``/declarer`` flow to the end for one of its undeclared contracts of last month:
choose the lot and the contract when asked, the month, work and training hours, skip the proof,
confirm. The driver reads the bot's buttons to answer, like a person would.

The baseline: a bare PTB ``Application`` whose handlers echo every text and answer every button
with one message, fed the same number of updates of the same kinds in the same batches, on the
product's HTTP transport (:mod:`bot.http_request`); also on PTB's default httpx stack, the
baseline of the earlier rounds, whose connection pool was the cap.

The check: every user's declaration is stored, for the contract and month aimed at.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing import get_context
from multiprocessing.managers import BaseManager
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


class BotApiHost:
    """The test-suite's Bot API server, run in a child process and driven through a pipe.

    Why a child process: Telegram's work is not done in the bot's process. Run in the same
    process (a thread), the server's HTTP handling, the 50 ms sleeps' wake-ups and the driver's
    polling shared the bot's GIL and were charged to both sides; the echo bot, which does
    almost nothing itself, was mostly measuring the server. Every call here is one round trip
    on the pipe, outside the timed HTTP path."""

    def __init__(self, latency: float) -> None:
        from tests.servers.botapi import BotApiServer

        self.server = BotApiServer().start()
        self.server.latency = latency
        self.users: dict[int, Any] = {}

    def urls(self) -> tuple[str, str, str]:
        return self.server.token, self.server.bot_base_url, self.server.file_base_url

    def add_user(self, user_id: int, first_name: str) -> None:
        self.users[user_id] = self.server.user(id=user_id, first_name=first_name)

    def send_text(self, user_id: int, text: str) -> int:
        return int(self.server.send_text(self.users[user_id], text))

    def press(self, user_id: int, data: str) -> int:
        """Press ``data`` on the last message the bot sent to the user."""
        return int(self.server.press_button(self.users[user_id],
                                            self.server.last_message(user_id), data))

    def last(self, chat_id: int) -> tuple[str, list[str]]:
        message = self.server.last_message(chat_id)
        return message.text or "", list(message.callback_data())

    def unconfirmed(self) -> list[int]:
        return list(self.server.pending_update_ids())

    def waiting(self, expected: dict[int, int]) -> dict[int, int]:
        """The chats that got fewer messages than expected."""
        return {chat: n for chat, n in expected.items()
                if len(self.server.sent_messages(chat)) < n}

    def wait_step(self, update_ids: list[int], expected: dict[int, int],
                  timeout: float = 120.0) -> None:
        """Block until every update of ``update_ids`` is confirmed and every chat of
        ``expected`` got at least that many messages: the end of a step, seen by Telegram.

        Why here, in the child, woken by the server's own condition: the driver used to poll
        the child every 2 ms from the bot's event loop, a blocking pipe round trip each time;
        in the product's process every such round trip handed the GIL to its database thread
        and waited up to a switch interval (5 ms) to get it back — a cost the echo, which has
        no other thread, did not pay, and that Telegram, in another data centre, never
        imposes. The bot's process now makes one call per step, from a thread that waits
        without the GIL."""
        ids = set(update_ids)

        def finished() -> bool:
            return not ids.intersection(self.server.pending_update_ids()) \
                and not self.waiting(expected)

        self.server._wait(finished, timeout, lambda: f"step unfinished: {sorted(ids)[:5]}...")

    def calls_by_method(self) -> dict[str, int]:
        """How many Bot API calls of each method the bot made (getUpdates included)."""
        counts: dict[str, int] = {}
        for call in self.server.calls():
            counts[call.method] = counts.get(call.method, 0) + 1
        return counts

    def close(self) -> None:
        self.server.stop()


@dataclass
class LastMessage:
    """What :func:`next_action` reads of the bot's last message (a copy from the child)."""

    text: str
    data: list[str]

    def callback_data(self) -> list[str]:
        return self.data


class HostManager(BaseManager):
    """Starts :class:`BotApiHost` in a spawned child (no fork of a process with threads)."""


HostManager.register("BotApiHost", BotApiHost)


def _manager() -> Any:
    manager = HostManager(ctx=get_context("spawn"))
    manager.start()
    return manager


async def wait_confirmed(host: Any, update_ids: list[int], expected: dict[int, int]) -> None:
    """Until the bot confirmed every update (committed, Telegram may forget it) and every user
    got the messages expected (the answer delivered), waited for in the child
    (:meth:`BotApiHost.wait_step`) from a thread, so the bot's loop is left alone.

    Both, because the adapter confirms an update once it is committed with its replies
    journaled, which may be before the reply reaches the user; the step is over for the
    user when the answer arrives, and for Telegram when the update is confirmed."""
    await asyncio.to_thread(host.wait_step, update_ids, expected)


async def wait_answered(host: Any, expected: dict[int, int]) -> None:
    """Until every echo user got the number of messages expected (same wait, no updates)."""
    await asyncio.to_thread(host.wait_step, [], expected)


async def product_round(run: Run, db: Any, targets: list[Target], concurrency: int,
                        host: Any) -> tuple[int, float, float]:
    """The real adapter (``TelegramBot.poll``: getUpdates, dispatcher, ChatCore) against a
    fresh server 50 ms away (``host``, in a child process); each step timed from the users'
    sending to the last confirmation."""
    from bot.core import ChatCore
    from bot.ratelimit import FloodLimiter
    from bot.telegram_adapter import TelegramBot

    token, base_url, file_url = host.urls()
    tg = TelegramBot(ChatCore(run.context(db)), token, base_url=base_url,
                     base_file_url=file_url, poll_timeout=5,
                     limiter=FloodLimiter(global_rate=1_000_000), concurrency=concurrency)
    app = tg.application
    await app.initialize()
    stop = asyncio.Event()
    poller = asyncio.create_task(tg.poll(stop))
    for t in targets:
        host.add_user(t.tg_id, "Chef")
    total, seconds, cpu = 0, 0.0, 0.0
    try:
        for t in targets:
            t.actions, t.done, t.failure = [("text", "/declarer")], False, None
        received = {t.tg_id: 0 for t in targets}  # one message an update in this flow
        sent = [host.send_text(t.tg_id, "/declarer") for t in targets]
        expected = {t.tg_id: 1 for t in targets}
        for _step in range(MAX_STEPS):
            began, began_cpu = time.perf_counter(), time.process_time()
            await wait_confirmed(host, sent, expected)
            total, seconds = total + len(sent), seconds + time.perf_counter() - began
            cpu += time.process_time() - began_cpu
            received.update(expected)
            sent, expected = [], {}
            for t in [t for t in targets if not t.done and t.failure is None]:
                try:
                    action = next_action(t, LastMessage(*host.last(t.tg_id)))
                except LookupError as exc:
                    t.failure = str(exc)
                    continue
                if action is None:
                    t.done = True
                    continue
                t.actions.append(action)
                kind, value = action
                sent.append(host.send_text(t.tg_id, value) if kind == "text"
                            else host.press(t.tg_id, value))
                expected[t.tg_id] = received[t.tg_id] + 1
            if not sent:
                break
    finally:
        stop.set()
        await poller
        await app.shutdown()
    return total, seconds, cpu


async def baseline_round(targets: list[Target], host: Any, transport: str = "aiohttp"
                         ) -> tuple[int, float, float]:
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

    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("ok", callback_data="ok")]])

    async def echo(update: Update, _context: Any) -> None:
        assert update.message is not None
        await update.message.reply_text(update.message.text or "?", reply_markup=keyboard)

    async def pressed(update: Update, _context: Any) -> None:
        query = update.callback_query
        assert query is not None and query.message is not None
        await asyncio.gather(query.answer(),
                             query.message.reply_text("ok", reply_markup=keyboard))  # type: ignore[union-attr]

    token, base_url, file_url = host.urls()
    builder = (Application.builder().token(token).base_url(base_url)
               .base_file_url(file_url).concurrent_updates(True))
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
    users = {t.tg_id: t.tg_id + 7_000_000 for t in targets}
    for user in users.values():
        host.add_user(user, "Echo")
    expected = {user: 0 for user in users.values()}
    total, seconds, cpu = 0, 0.0, 0.0
    try:
        longest = max(len(t.actions) for t in targets)
        for step in range(longest):
            began, began_cpu = time.perf_counter(), time.process_time()
            for t in targets:
                if step >= len(t.actions):
                    continue
                kind, value = t.actions[step]
                user = users[t.tg_id]
                if kind == "text":
                    host.send_text(user, value)
                else:
                    host.press(user, "ok")
                expected[user] += 1
                total += 1
            await wait_answered(host, expected)
            seconds += time.perf_counter() - began
            cpu += time.process_time() - began_cpu
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
    return total, seconds, cpu


@contextlib.contextmanager
def hosted() -> Iterator[Any]:
    """A fresh Bot API server in a child process (:class:`BotApiHost`), stopped afterwards."""
    manager = _manager()
    try:
        host = manager.BotApiHost(LATENCY)
        try:
            yield host
        finally:
            host.close()
    finally:
        manager.shutdown()


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
    cpus: dict[str, list[float]] = {name: [] for name in rates}
    """CPU of the bot's process per update (ms; the Bot API server is another process): on a
    saturated machine the rate follows it, and it is far less noisy than the rate."""
    updates = 0
    verdict = ""
    for round_ in range(1 + rounds):
        order = ["before", "after", "echo", "echo-httpx"]
        order = order[round_ % 4:] + order[:round_ % 4]  # each goes first in turn
        for variant in order:
            if variant.startswith("echo"):
                if not targets:  # the echo replays the product's actions: run after one
                    continue
                with hosted() as host:
                    b_n, b_seconds, b_cpu = asyncio.run(baseline_round(
                        targets, host, "httpx" if variant == "echo-httpx" else "aiohttp"))
                if b_n != updates:
                    raise AssertionError(f"baseline processed {b_n} updates, product {updates}")
                rate, per_update = b_n / b_seconds, 1000 * b_cpu / b_n
            else:
                clone = run.backends.clone(run.bench_db, f"chat{round_}{variant}")
                try:
                    targets = pick_targets(run, clone, count)
                    if not targets:
                        raise AssertionError("no company user has an undeclared contract")
                    with hosted() as host:
                        n, seconds, cpu = asyncio.run(product_round(
                            run, clone, targets, CONCURRENCY_BEFORE if variant == "before"
                            else DEFAULT_CONCURRENCY, host))
                    stored = check(clone, targets)
                    updates = n
                    rate, per_update = n / seconds, 1000 * cpu / n
                    verdict = (f"{stored} users declared through the guided flow, {n} updates, "
                               "every declaration stored")
                finally:
                    run.backends.drop_clone(clone)
            run.log(f"  round {round_ + 1}{' (warm-up)' if round_ == 0 else ''}: "
                    f"{variant} {rate:.1f} updates/s, CPU {per_update:.2f} ms an update")
            if round_ > 0:
                rates[variant].append(rate)
                cpus[variant].append(per_update)
    median = {k: statistics.median(v) for k, v in rates.items()}
    best = {k: max(v) for k, v in rates.items()}
    cpu_ms = {k: statistics.median(v) for k, v in cpus.items()}
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
                     f"{median['echo'] / median['before']:.1f}× the sequential adapter; CPU of "
                     f"the bot's process an update (median): after {cpu_ms['after']:.2f} ms, "
                     f"echo {cpu_ms['echo']:.2f} ms ({cpu_ms['after'] / cpu_ms['echo']:.2f}×), "
                     f"before {cpu_ms['before']:.2f} ms"),
        run.row(f"chat at {LATENCY * 1000:.0f} ms Bot API latency: after vs PTB concurrent "
                "echo on PTB's default HTTP stack (httpx, updates/s)",
                median["after"], median["echo-httpx"], goal=1.5, unit="upd/s",
                lower_is_better=False, check=verdict,
                note=f"the baseline as measured until the fourth round; its echo is "
                     f"{median['echo-httpx'] / median['before']:.1f}× the sequential adapter; "
                     f"best {best['after']:.1f} vs {best['echo-httpx']:.1f}"),
    ]
    return rows
