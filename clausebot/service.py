"""`clausebot run`: the chat, the mail intake, both outbox senders and the scheduler in one process.

Order matters. The instance lock comes first, so a second process never polls IMAP, calls
getUpdates or schedules; the scheduler starts last, inside the running loop (an
AsyncIOScheduler binds to the loop running when it starts). Shutdown runs in reverse: nothing
new is scheduled, the intake finishes the message in hand (its transaction commits or rolls
back; an unmoved message is recognised by its UID next time), the senders finish the row in
hand (a row left "sending" is retried after its lease), then the lock is released.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from clausebot.settings import Settings
from clausebot.wiring import build_context

log = logging.getLogger("clausebot.service")

EXIT_BUSY = 75  # EX_TEMPFAIL: systemd's Restart= tries again later
LOCK_CHECK_SECONDS = 30.0
TRIM_SECONDS = 60.0


def main(settings: Settings) -> int:
    from clausebot.logging_setup import configure_from_settings
    from storage.instance_lock import InstanceBusy, InstanceLock

    keep_numpy_out()
    limit_malloc_arenas()
    configure_from_settings(settings)
    if settings.chat_backend == "console" and (
        settings.chat_console_interactive or (settings.chat_console_interactive is None
                                              and sys.stdin.isatty())):
        from clausebot.logging_setup import quiet_for_console

        journal = settings.data_dir / "clausebot.log"
        quiet_for_console(journal)
        print(f"Journal du service : {journal} (seuls les avertissements s'affichent ici).",
              file=sys.stderr, flush=True)
    lock = InstanceLock(settings.effective_database_url)
    try:
        lock.acquire(wait=False)
    except InstanceBusy as exc:
        print(exc.message_fr, file=sys.stderr)
        return EXIT_BUSY
    try:
        return asyncio.run(serve(settings, lock_check=lock.check))
    finally:
        lock.dispose()


def keep_numpy_out() -> None:
    """Make ``import numpy`` fail in this process, unless something already imported it.

    Why: openpyxl (declaration spreadsheets, the template) imports numpy whenever it can, only
    to recognise numpy numbers in cells written from arrays, which the service never does:
    12 MB kept for the life of the process. The one real user, the charts, runs in short-lived
    child processes (:mod:`reports.isolated`), fresh interpreters that this does not affect.
    Only ``clausebot run`` calls it (not :func:`serve`, which tests run inside pytest).
    """
    sys.modules.setdefault("numpy", None)  # type: ignore[arg-type]


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's malloc arenas before the service starts its threads.

    Why: glibc gives each thread that allocates concurrently its own arena (up to 8 per core),
    and freed memory stays in the arena that served it. The service has a handful of threads
    (IMAP intake, the asyncio default executor running the chat and the jobs), so its resident
    size grows by whole arenas it never gives back. Two arenas keep the contention low for
    this workload. Same effect as ``MALLOC_ARENA_MAX=2`` in the unit file; a no-op off glibc.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_arena_max = -8  # from <malloc.h>
        libc.mallopt(m_arena_max, arenas)
    except (OSError, AttributeError):  # musl or another libc: nothing to tune
        log.debug("mallopt unavailable: malloc arenas left as they are")


def trim_heap() -> None:
    """Hand the C heap's free pages back to the system (glibc's ``malloc_trim(0)``).

    Why: the intake, the jobs and the chat allocate and free in bursts (SQLite pages, driver
    rows, spreadsheets); glibc keeps what was freed in its arenas, so the service's resident
    size stays at its last burst's level although that memory is free. Measured on the
    territory after the start-up catch-up: 146.8 -> 137.6 MB. It takes a few milliseconds and
    changes nothing else; a no-op off glibc.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # musl or another libc
        log.debug("malloc_trim unavailable")


async def serve(settings: Settings, *, lock_check=None, stop: asyncio.Event | None = None) -> int:
    """Run every component until SIGTERM/SIGINT, `stop`, the console closing, or a lost lock."""
    from bot.service import ChatService
    from mail.config import from_settings as mail_config
    from mail.service import run_outbox_sender, start_intake
    from reports.isolated import enable_isolation
    from reports.renderer import shutdown as stop_renderer
    from scheduler.service import start_scheduler, stop_scheduler
    from storage.schema_version import upgrade_if_needed

    # PDFs print in one renderer process, stopped when idle: WeasyPrint (60 MB) would otherwise
    # stay in this long-running process after the first letter. Charts and XLSX are made here.
    enable_isolation()
    ctx = build_context(settings)
    # On the embedded default this creates the database; Alembic (10 MB kept for the life of
    # the process) is imported only when the schema is not at the head already.
    upgrade_if_needed(ctx.db)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    chat = ChatService(ctx, settings)
    await chat.start()
    mail_cfg = mail_config(settings)
    intake = start_intake(ctx, mail_cfg)
    mail_stop = asyncio.Event()
    mail_sender = asyncio.create_task(run_outbox_sender(ctx, mail_cfg, mail_stop), name="mail-outbox")
    scheduler = start_scheduler(ctx)
    watchers = [asyncio.create_task(_console_closed(chat, stop), name="console-watch"),
                asyncio.create_task(_trim_heap_periodically(stop), name="heap-trim")]
    if lock_check is not None:
        watchers.append(asyncio.create_task(_watch_lock(lock_check, stop), name="lock-watch"))
    log.info("clausebot started: chat=%s, mail in=%s, mail out=%s",
             chat.backend, settings.mail_in_backend, settings.mail_out_backend)
    print(f"clausebot démarré (chat : {chat.backend}, courrier : {settings.mail_in_backend}/"
          f"{settings.mail_out_backend}). Ctrl-C pour arrêter.", file=sys.stderr, flush=True)
    try:
        await stop.wait()
    finally:
        log.info("clausebot stopping")
        for task in watchers:
            task.cancel()
        stop_scheduler(scheduler)
        await loop.run_in_executor(None, intake.stop, 30.0)
        mail_stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(mail_sender, timeout=30)
        await chat.stop()
        await loop.run_in_executor(None, stop_renderer)  # no renderer outlives the service
        ctx.db.dispose()
        log.info("clausebot stopped")
        print("clausebot arrêté proprement.", file=sys.stderr, flush=True)
    return 0


async def _console_closed(chat, stop: asyncio.Event) -> None:
    """The console user quitting (end of input, `!quitter`) ends an interactive session."""
    if not chat.has_interactive_console:
        return
    await chat.wait_console_closed()
    if chat.has_interactive_console:
        stop.set()


async def _trim_heap_periodically(stop: asyncio.Event, every: float = TRIM_SECONDS) -> None:
    """:func:`trim_heap` once a minute: after each burst of work, the heap goes back to what
    is in use (a scheduler hook per job would tie the jobs to a glibc detail)."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
        trim_heap()


async def _watch_lock(check, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await asyncio.sleep(LOCK_CHECK_SECONDS)
        if not check():
            log.error("instance lock lost: stopping so that another instance can take over")
            stop.set()
