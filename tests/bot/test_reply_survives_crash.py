"""A reply survives a crash (issue 18): `clausebot run` is killed while the answer to an update
waits on Telegram's 429 « retry after »; after the restart the user gets it, exactly once.

Before, the update was committed, Telegram delivered it again after the restart, the update key
dropped it as a replay, and the answer was lost. Now the replies are journaled in the outbox in
the update's transaction (clauses.chat_replies) and released at the next start. Since the
update is committed with its replies, the adapter confirms it at once: after the restart nothing
is replayed, the journal alone carries the answer.

The service runs as a user runs it (a subprocess on embedded defaults, set up from an empty
database by the command line), against the local Bot API server; SIGKILL leaves it no chance
to tidy up.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from storage.db import Database
from storage.models import ChatUpdate, OutboxMessage, OutboxStatus
from tests.servers._util import running, service_env, stop, wait_for

CLI = [sys.executable, "-m", "clausebot.cli"]


def _env(data: Path, bot_api) -> dict[str, str]:
    return service_env(data, CLAUSEBOT_TELEGRAM_TOKEN=bot_api.token,
                       CLAUSEBOT_TELEGRAM_BASE_URL=bot_api.bot_base_url,
                       CLAUSEBOT_TELEGRAM_BASE_FILE_URL=bot_api.file_base_url)


def _replies(db: Database) -> list[tuple[str, OutboxStatus]]:
    with db.session() as s:
        return [(r.dedup_key, r.status) for r in s.scalars(
            select(OutboxMessage).where(OutboxMessage.dedup_key.like("reply:%")))]


def test_reply_waiting_on_429_is_delivered_once_after_a_kill(tmp_path, bot_api):
    data = tmp_path / "data"
    env = _env(data, bot_api)
    for args in (["db", "upgrade"],):
        done = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    created = subprocess.run(
        [*CLI, "invitation", "create", "--role", "facilitateur", "--nom", "Fanny Martin"],
        env=env, capture_output=True, text=True, timeout=120)
    assert created.returncode == 0, created.stderr
    code = re.search(r"Code \(affiché une seule fois\) : (\S+)", created.stdout).group(1)
    db = Database(f"sqlite:///{data / 'clausebot.sqlite3'}")
    fanny = bot_api.user(first_name="Fanny")

    first = subprocess.Popen([*CLI, "run"], env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: bot_api.calls("getUpdates"), what="the bot polling")
        bot_api.flood_next(1, retry_after=120, methods=["sendMessage"])
        update_id = bot_api.send_text(fanny, f"/start {code}")
        wait_for(lambda: [c for c in bot_api.calls("sendMessage") if not c.ok],
                  what="the reply refused with a 429")
        with db.session() as s:  # handled and committed, the reply journaled, still unsent
            assert s.get(ChatUpdate, update_id) is not None
        assert [status for _, status in _replies(db)] == [OutboxStatus.SENDING]
        # confirmed already: the update is committed with its reply in the journal, so
        # Telegram may forget it while the reply waits (the journal, not a replay, carries it)
        wait_for(lambda: bot_api.is_confirmed(update_id), what="the update confirmed")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    assert bot_api.sent_messages(fanny) == []  # the process died with the reply unsent

    with running([*CLI, "run"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                 stderr=subprocess.PIPE, text=True) as second:
        wait_for(lambda: bot_api.sent_messages(fanny), what="the reply after the restart")
        assert bot_api.is_confirmed(update_id)  # not delivered again: nothing to replay
        time.sleep(4)  # two outbox rounds: nothing else may come
        err = stop(second)
    assert second.returncode == 0, err
    messages = bot_api.sent_messages(fanny)
    assert len(messages) == 1, [m.text for m in messages]
    assert "Bienvenue" in messages[0].text or "Fanny" in messages[0].text
    assert [status for _, status in _replies(db)] == [OutboxStatus.SENT]
    db.dispose()


async def test_delivered_replies_are_marked_and_keep_no_text(ctx, world, tg):
    """In the normal case the adapter sends at once and marks each part sent; the journal keeps
    no text once delivered (an answer may name a participant)."""

    boss = tg.linked(world["company_user"])
    replies = await tg.text(boss, "/declarer")
    assert replies
    with ctx.db.session() as s:
        rows = list(s.scalars(select(OutboxMessage).where(OutboxMessage.dedup_key.like("reply:%"))))
    assert rows and all(r.status == OutboxStatus.SENT and r.body_text == "" for r in rows)
    assert len(tg.api.sent_messages(boss)) == len(rows)  # nothing sent twice by the sender


async def test_reply_refused_too_often_is_handed_to_the_outbox_once(ctx, world, tg):
    """Telegram keeps answering 429 past the limiter's retries: the journaled reply goes back to
    the outbox sender, which delivers it once (no second row, no second message)."""

    boss = tg.linked(world["company_user"])
    tg.api.flood_next(5, retry_after=1, methods=["sendMessage"])
    assert await tg.text(boss, "/aide") == []  # the adapter gave up: nothing delivered yet
    (message,) = await tg.api.wait_for_messages_async(boss, 1, timeout=30)
    assert "/declarer" in message.text

    def reply_statuses() -> list[OutboxStatus]:
        with ctx.db.session() as s:
            return list(s.scalars(select(OutboxMessage.status)
                                  .where(OutboxMessage.dedup_key.like("reply:%"))))

    # The sender marks the row sent just after Telegram accepted it: wait for that commit
    # (the message can be observed before it) rather than race it.
    deadline = asyncio.get_running_loop().time() + 10
    while reply_statuses() != [OutboxStatus.SENT] and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    assert reply_statuses() == [OutboxStatus.SENT]
    await asyncio.sleep(0.5)  # a second delivery, if any, would have happened by now
    assert len(tg.api.sent_messages(boss)) == 1
