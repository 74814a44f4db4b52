"""Tests of the real test servers themselves (PostgreSQL, Dovecot, SMTP sink, Bot API).

Why: every other test trusts these servers; a server that silently misbehaves (an IDLE that
never fires, an offset that never confirms, a 451 that is not a 451) would make the whole
suite lie. Each server is exercised through the same client library the product uses.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
import pwd
import socket
import ssl
import threading
import time
import warnings
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
import sqlalchemy as sa
from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from sqlalchemy.exc import IntegrityError
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from tests.servers.botapi import BotApiServer
from tests.servers.botapi_markup import ApiError, parse_html, parse_markdown_v2
from tests.servers.dovecot import DovecotServer, ImapAccount
from tests.servers.postgres import ExternalPostgres, PostgresServer
from tests.servers.smtp import SmtpSink

# Until the root conftest loads the plugin, this module loads it itself (a no-op afterwards).


PNG_1x1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201e221bc330000000049454e44ae426082"
)


def _raw_mail(subject: str, sender: str = "entreprise@btp.test", body: str = "Bonjour") -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "bot@agence.test"
    message["Subject"] = subject
    message["Message-ID"] = f"<{abs(hash((subject, sender, time.time())))}@btp.test>"
    message.set_content(body)
    return message.as_bytes()


# ------------------------------------------------------------------------------------------------
# PostgreSQL
# ------------------------------------------------------------------------------------------------
def test_postgres_sqlalchemy_roundtrip(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            version = conn.execute(sa.text("SHOW server_version_num")).scalar_one()
            conn.execute(
                sa.text(
                    "CREATE TABLE heures (siret text, mois int, heures int, UNIQUE (siret, mois))"
                )
            )
            conn.execute(
                sa.text("INSERT INTO heures VALUES (:s, :m, :h)"),
                [
                    {"s": "A", "m": 1, "h": 35},
                    {"s": "A", "m": 2, "h": 70},
                    {"s": "B", "m": 1, "h": 7},
                ],
            )
        with engine.connect() as conn:
            totals = conn.execute(
                sa.text("SELECT siret, sum(heures) FROM heures GROUP BY siret ORDER BY siret")
            ).all()
        assert [tuple(row) for row in totals] == [("A", 105), ("B", 7)]
        assert int(version) >= 150000
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO heures VALUES ('A', 1, 1)"))
    finally:
        engine.dispose()


def test_postgres_databases_are_isolated(
    postgres_server: PostgresServer | ExternalPostgres,
) -> None:
    first = postgres_server.create_database("t_iso_one")
    second = postgres_server.create_database("t_iso_two")
    try:
        one, two = sa.create_engine(first), sa.create_engine(second)
        with one.begin() as conn:
            conn.execute(sa.text("CREATE TABLE only_here (x int)"))
        with two.connect() as conn:
            tables = conn.execute(
                sa.text("SELECT count(*) FROM pg_tables WHERE tablename = 'only_here'")
            ).scalar_one()
        assert tables == 0
        one.dispose()
        two.dispose()
        assert {"t_iso_one", "t_iso_two"} <= set(postgres_server.list_databases())
    finally:
        postgres_server.drop_database("t_iso_one")
        postgres_server.drop_database("t_iso_two")
    assert "t_iso_one" not in postgres_server.list_databases()


def test_postgres_server_settings_and_owner(
    postgres_server: PostgresServer | ExternalPostgres,
) -> None:
    engine = sa.create_engine(postgres_server.url("postgres"))
    try:
        with engine.connect() as conn:
            fsync = conn.execute(sa.text("SHOW fsync")).scalar_one()
            encoding = conn.execute(sa.text("SHOW server_encoding")).scalar_one()
    finally:
        engine.dispose()
    assert encoding == "UTF8"
    if isinstance(postgres_server, PostgresServer):
        assert fsync == "off"
        assert postgres_server.proc is not None
        owner = os.stat(f"/proc/{postgres_server.proc.pid}").st_uid
        expected = pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.getuid()
        assert owner == expected
        assert postgres_server.url("db1").startswith("postgresql+psycopg://postgres@127.0.0.1:")


def test_external_postgres_url_is_honoured(
    postgres_server: PostgresServer | ExternalPostgres,
) -> None:
    """What CLAUSEBOT_TEST_PG_URL does: drive an already running server through its URL."""
    external = ExternalPostgres(postgres_server.url("postgres"))
    url = external.create_database("t_external")
    try:
        assert url.rsplit("/", 1)[1] == "t_external"
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT current_database()")).scalar_one() == "t_external"
        engine.dispose()
    finally:
        external.drop_database("t_external")
    with pytest.raises(ValueError):
        external.create_database("bad name; drop")


def test_postgres_server_stop_removes_its_directory() -> None:
    server = PostgresServer().start()
    tmpdir = server.tmpdir
    assert tmpdir is not None and (tmpdir / "data" / "PG_VERSION").exists()
    server.stop()
    assert not tmpdir.exists()
    assert server.proc is None


# ------------------------------------------------------------------------------------------------
# Dovecot
# ------------------------------------------------------------------------------------------------
def test_imap_login_append_list_search(imap_account: ImapAccount) -> None:
    first = imap_account.append("INBOX", _raw_mail("Heures mars", sender="a@btp.test"))
    second = imap_account.append("INBOX", _raw_mail("Candidature", sender="b@mission-locale.test"))
    assert second > first
    with IMAPClient(imap_account.host, port=imap_account.port, ssl=False) as client:
        client.login(imap_account.user, imap_account.password)
        client.select_folder("INBOX")
        assert client.search(["FROM", "mission-locale.test"]) == [second]
        assert client.search(["SUBJECT", "Heures"]) == [first]
        assert {b"IDLE", b"MOVE", b"UIDPLUS"} <= set(client.capabilities())
    assert imap_account.list_folders() == ["INBOX"]
    raw = imap_account.fetch_raw("INBOX")
    assert list(raw) == [first, second]
    assert b"Subject: Candidature" in raw[second]


def test_imap_move_to_utf8_folder(imap_account: ImapAccount) -> None:
    uid = imap_account.append("INBOX", _raw_mail("A classer"))
    imap_account.create_folder("Traités")
    with imap_account.client() as client:
        client.select_folder("INBOX")
        client.move([uid], "Traités")
    assert imap_account.folder_uids("INBOX") == []
    assert len(imap_account.folder_uids("Traités")) == 1
    assert imap_account.list_folders() == ["INBOX", "Traités"]
    assert b"A classer" in next(iter(imap_account.fetch_raw("Traités").values()))


def test_imap_idle_returns_on_new_message(imap_account: ImapAccount) -> None:
    with imap_account.client() as client:
        client.select_folder("INBOX")
        client.idle()
        try:
            assert client.idle_check(timeout=0.3) == []
            delivered = threading.Timer(0.2, imap_account.append, ("INBOX", _raw_mail("Nouveau")))
            delivered.start()
            began = time.monotonic()
            responses = client.idle_check(timeout=10)
            elapsed = time.monotonic() - began
            delivered.join()
        finally:
            client.idle_done()
    assert (1, b"EXISTS") in responses
    assert elapsed < 5


def test_imap_rejects_bad_password_and_isolates_users(dovecot_server: DovecotServer) -> None:
    alice = dovecot_server.add_user(password="alice-pw")
    bob = dovecot_server.add_user(password="bob-pw")
    try:
        alice.append("INBOX", _raw_mail("Pour Alice"))
        assert bob.folder_uids("INBOX") == []
        assert len(alice.folder_uids("INBOX")) == 1
        with (
            IMAPClient(dovecot_server.host, port=dovecot_server.port, ssl=False) as client,
            pytest.raises(LoginError),
        ):
            client.login(alice.user, "wrong")
    finally:
        dovecot_server.remove_user(alice.user)
        dovecot_server.remove_user(bob.user)
    assert not dovecot_server.home(alice.user).exists()


def test_imap_default_bot_user_and_clear(dovecot_server: DovecotServer) -> None:
    account = dovecot_server.account("bot@agence.test")
    assert account.password == "secret"
    account.append("Archives/2024", _raw_mail("Vieux"))
    account.append("INBOX", _raw_mail("Neuf"))
    dovecot_server.clear(account.user)
    assert account.list_folders() == ["INBOX"]
    assert account.folder_uids() == []


def test_dovecot_keeps_everything_in_its_temp_dir(dovecot_server: DovecotServer) -> None:
    assert dovecot_server.tmpdir is not None
    config = dovecot_server.config_path.read_text()
    for key in ("base_dir", "state_dir", "log_path"):
        line = next(line for line in config.splitlines() if line.startswith(f"{key} ="))
        assert line.split("=", 1)[1].strip().startswith(str(dovecot_server.tmpdir))
    assert "master: Info: Dovecot" in dovecot_server.log_path.read_text()
    assert (dovecot_server.tmpdir / "run" / "login").is_dir()


# ------------------------------------------------------------------------------------------------
# SMTP sink
# ------------------------------------------------------------------------------------------------
def _mail(to: str = "référent@ville.test") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "bot@agence.test"
    message["To"] = to
    message["Subject"] = "Bilan trimestriel — clauses"
    message.set_content("Bonjour,\nveuillez trouver le bilan.\n")
    message.add_attachment(
        b"%PDF-1.7 test", maintype="application", subtype="pdf", filename="bilan.pdf"
    )
    return message


async def test_smtp_sink_records_envelope_and_content(smtp_sink: SmtpSink) -> None:
    await aiosmtplib.send(_mail(), hostname=smtp_sink.host, port=smtp_sink.port, start_tls=False)
    [received] = smtp_sink.messages
    assert received.mail_from == "bot@agence.test"
    assert received.rcpt_tos == ("référent@ville.test",)
    assert received.subject == "Bilan trimestriel — clauses"
    assert "veuillez trouver le bilan" in received.text_body()
    assert received.attachments() == [("bilan.pdf", "application/pdf", b"%PDF-1.7 test")]
    assert received.raw.startswith(b"From: ") or b"\nFrom: " in received.raw
    assert received.auth_login is None


async def test_smtp_451_injection_then_success(smtp_sink: SmtpSink) -> None:
    smtp_sink.fail_next(1, code=451, message="4.7.1 Greylisted, retry later")
    with pytest.raises(aiosmtplib.SMTPResponseException) as caught:
        await aiosmtplib.send(
            _mail(), hostname=smtp_sink.host, port=smtp_sink.port, start_tls=False
        )
    assert caught.value.code == 451
    assert "Greylisted" in caught.value.message
    assert smtp_sink.messages == []
    await aiosmtplib.send(_mail(), hostname=smtp_sink.host, port=smtp_sink.port, start_tls=False)
    assert len(smtp_sink.messages) == 1


async def test_smtp_550_on_rcpt_and_rejected_recipient(smtp_sink: SmtpSink) -> None:
    smtp_sink.fail_next(1, code=550, stage="RCPT")
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as caught:
        await aiosmtplib.send(
            _mail(), hostname=smtp_sink.host, port=smtp_sink.port, start_tls=False
        )
    assert caught.value.recipients[0].code == 550
    smtp_sink.reject_recipient("parti@ville.test")
    errors, _response = await aiosmtplib.send(
        _mail(),
        sender="bot@agence.test",
        recipients=["parti@ville.test", "reste@ville.test"],
        hostname=smtp_sink.host,
        port=smtp_sink.port,
        start_tls=False,
    )
    assert errors["parti@ville.test"].code == 550
    [received] = smtp_sink.messages
    assert received.rcpt_tos == ("reste@ville.test",)


async def test_smtp_outage_then_same_port_again(smtp_sink: SmtpSink) -> None:
    port = smtp_sink.port
    smtp_sink.stop()
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await aiosmtplib.send(
            _mail(), hostname=smtp_sink.host, port=port, start_tls=False, timeout=3
        )
    smtp_sink.start()
    assert smtp_sink.port == port
    await aiosmtplib.send(_mail(), hostname=smtp_sink.host, port=port, start_tls=False)
    with smtp_sink.outage(), socket.socket() as sock:
        assert sock.connect_ex((smtp_sink.host, port)) != 0
    await aiosmtplib.send(_mail(), hostname=smtp_sink.host, port=port, start_tls=False)
    assert len(smtp_sink.messages) == 2


async def test_smtp_auth_required() -> None:
    with SmtpSink(auth=("bot@agence.test", "s3cret"), auth_required=True) as sink:
        with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
            await aiosmtplib.send(_mail(), hostname=sink.host, port=sink.port, start_tls=False)
        assert refused.value.code == 530
        async def login(password: str) -> None:
            await aiosmtplib.send(_mail(), hostname=sink.host, port=sink.port, start_tls=False,
                                  username="bot@agence.test", password=password)

        with pytest.raises(aiosmtplib.SMTPAuthenticationError):
            await login("x")
        await login("s3cret")
        [received] = sink.messages
        assert received.auth_login == "bot@agence.test"
        assert ("bot@agence.test", True) in sink.auth_attempts


async def test_smtp_starttls_optional() -> None:
    with SmtpSink(starttls=True) as sink:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        await aiosmtplib.send(
            _mail(), hostname=sink.host, port=sink.port, start_tls=True, tls_context=context
        )
        assert len(sink.messages) == 1


def test_smtp_wait_for_from_another_thread(smtp_sink: SmtpSink) -> None:
    def send_later() -> None:
        time.sleep(0.1)
        asyncio.run(
            aiosmtplib.send(_mail(), hostname=smtp_sink.host, port=smtp_sink.port, start_tls=False)
        )

    sender = threading.Thread(target=send_later)
    sender.start()
    received = smtp_sink.wait_for(1, timeout=10)
    sender.join()
    assert received[0].subject.startswith("Bilan")
    with pytest.raises(TimeoutError):
        smtp_sink.wait_for(2, timeout=0.2)


# ------------------------------------------------------------------------------------------------
# Bot API
# ------------------------------------------------------------------------------------------------
def _bot(server: BotApiServer, token: str | None = None) -> Bot:
    return Bot(
        token or server.token,
        base_url=server.bot_base_url,
        base_file_url=server.file_base_url,
        request=HTTPXRequest(),
        get_updates_request=HTTPXRequest(),
    )


async def test_bot_get_me_and_inline_keyboard(bot_api: BotApiServer) -> None:
    user = bot_api.user(first_name="Léa", username="lea_btp")
    async with _bot(bot_api) as bot:
        me = await bot.get_me()
        keyboard = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton("Valider", callback_data="ok:1"),
                    InlineKeyboardButton("Refuser", callback_data="ko:1"),
                ]
            ]
        )
        sent = await bot.send_message(
            user.id, "<b>Heures</b> de mars : 35 h", parse_mode="HTML", reply_markup=keyboard
        )
    assert me.id == bot_api.bot_id and me.is_bot and me.username == "clausebot_test_bot"
    assert sent.chat.id == user.id and sent.chat.type == "private"
    assert sent.text == "Heures de mars : 35 h"
    assert sent.entities[0].type == "bold" and sent.entities[0].length == 6
    assert sent.reply_markup == keyboard
    [recorded] = bot_api.sent_messages(user.id)
    assert recorded.message_id == sent.message_id
    assert recorded.raw_text == "<b>Heures</b> de mars : 35 h"
    assert recorded.parse_mode == "HTML"
    assert recorded.button_texts() == ["Valider", "Refuser"]
    assert recorded.callback_data() == ["ok:1", "ko:1"]


async def test_bot_get_updates_offset_timeout_and_replay(bot_api: BotApiServer) -> None:
    user = bot_api.user()
    async with _bot(bot_api) as bot:
        began = time.monotonic()
        assert await bot.get_updates(timeout=1) == ()
        assert 0.9 <= time.monotonic() - began < 3

        loop = asyncio.get_running_loop()
        loop.call_later(0.3, bot_api.send_text, user, "bonjour")
        began = time.monotonic()
        [first] = await bot.get_updates(timeout=10)
        assert time.monotonic() - began < 3  # the long poll returned early
        assert first.message is not None and first.message.text == "bonjour"
        assert first.message.from_user is not None and first.message.from_user.id == user.id

        command_id = bot_api.send_command(user, "heures", "2024-03")
        again = await bot.get_updates(timeout=0)
        assert [u.update_id for u in again] == [first.update_id, command_id]  # not confirmed yet
        command = again[1].message
        assert command is not None and command.text == "/heures 2024-03"
        assert command.entities[0].type == "bot_command" and command.entities[0].length == 7

        assert await bot.get_updates(offset=command_id + 1, timeout=0) == ()
        assert bot_api.is_confirmed(command_id)

        bot_api.replay(first.update_id)
        [replayed] = await bot.get_updates(offset=command_id + 1, timeout=0)
        assert replayed.update_id == first.update_id
        assert replayed.message is not None and replayed.message.text == "bonjour"
        assert await bot.get_updates(offset=command_id + 1, timeout=0) == ()


async def test_bot_second_poller_conflicts(bot_api: BotApiServer) -> None:
    async with _bot(bot_api) as first, _bot(bot_api) as second:
        long_poll = asyncio.create_task(first.get_updates(timeout=5))
        for _ in range(500):
            if bot_api.active_polls == 1:
                break
            await asyncio.sleep(0.01)
        assert bot_api.active_polls == 1
        began = time.monotonic()
        await second.get_updates(timeout=0)
        with pytest.raises(Conflict):
            await long_poll
        assert time.monotonic() - began < 2
        assert bot_api.active_polls == 0


async def test_bot_document_upload_get_file_and_download(bot_api: BotApiServer) -> None:
    user = bot_api.user()
    pdf = b"%PDF-1.7\n" + bytes(range(256)) * 40
    async with _bot(bot_api) as bot:
        sent = await bot.send_document(
            user.id, document=io.BytesIO(pdf), filename="bilan-2024.pdf", caption="Bilan"
        )
        assert sent.document is not None
        assert sent.document.file_name == "bilan-2024.pdf"
        assert sent.document.mime_type == "application/pdf"
        assert sent.caption == "Bilan"
        remote = await bot.get_file(sent.document.file_id)
        buffer = io.BytesIO()
        await remote.download_to_memory(buffer)
        assert buffer.getvalue() == pdf
        assert bot_api.last_message(user).file_bytes == pdf

        update_id = bot_api.send_document(user, b"siret;heures\n1;35\n", "heures.csv", "text/csv")
        photo_id = bot_api.send_photo(user, PNG_1x1, caption="justificatif")
        updates = await bot.get_updates(timeout=0)
        by_id = {u.update_id: u for u in updates}
        document = by_id[update_id].message.document  # type: ignore[union-attr]
        assert (
            document is not None
            and document.file_name == "heures.csv"
            and document.mime_type == "text/csv"
        )
        received = await (await document.get_file()).download_as_bytearray()
        assert bytes(received) == b"siret;heures\n1;35\n"
        photo_message = by_id[photo_id].message
        assert photo_message is not None and photo_message.caption == "justificatif"
        photo = photo_message.photo[-1]
        assert (photo.width, photo.height) == (1, 1)
        assert bytes(await (await photo.get_file()).download_as_bytearray()) == PNG_1x1
        sent_photo = await bot.send_photo(user.id, photo=io.BytesIO(PNG_1x1))
        assert sent_photo.photo[-1].width == 1
        with pytest.raises(BadRequest, match=r"(?i)image_process_failed"):
            await bot.send_photo(user.id, photo=io.BytesIO(b"not an image"))


async def test_bot_flood_control_raises_retry_after(bot_api: BotApiServer) -> None:
    user = bot_api.user()
    bot_api.flood_next(1, retry_after=3, methods=["sendMessage"])
    async with _bot(bot_api) as bot:
        await bot.send_chat_action(user.id, "typing")  # other methods unaffected
        # PTB 22 itself warns (PTBDeprecationWarning) that retry_after becomes a timedelta,
        # unless PTB_TIMEDELTA=1; that is PTB's business, not this server's.
        with warnings.catch_warnings(), pytest.raises(RetryAfter) as caught:
            warnings.simplefilter("ignore")
            await bot.send_message(user.id, "trop vite")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            retry_after = caught.value.retry_after
        assert retry_after in (3, dt.timedelta(seconds=3))
        await bot.send_message(user.id, "ça passe")
    assert [m.text for m in bot_api.sent_messages(user)] == ["ça passe"]
    failed = [c for c in bot_api.calls("sendMessage") if not c.ok]
    assert failed and failed[0].error == "Too Many Requests: retry after 3"


async def test_bot_api_errors_follow_telegram(bot_api: BotApiServer) -> None:
    user = bot_api.user()
    async with _bot(bot_api) as bot:
        with pytest.raises(BadRequest, match="Can't parse entities"):
            await bot.send_message(user.id, "1 < 2 <3", parse_mode="HTML")
        with pytest.raises(BadRequest, match="reserved"):
            await bot.send_message(user.id, "Total : 3.5 h", parse_mode="MarkdownV2")
        with pytest.raises(BadRequest, match="Chat not found"):
            await bot.send_message(999, "perdu")
        with pytest.raises(BadRequest, match="Message text is empty"):
            await bot.send_message(user.id, "   ")
        with pytest.raises(BadRequest, match="Button_data_invalid"):
            await bot.send_message(
                user.id,
                "x",
                reply_markup=InlineKeyboardMarkup(
                    [[InlineKeyboardButton("x", callback_data="é" * 33)]]
                ),
            )
        bot_api.block(user)
        with pytest.raises(Forbidden, match="blocked"):
            await bot.send_message(user.id, "bloqué")
        bot_api.unblock(user)
        with pytest.raises(BadRequest, match="Bot_command_invalid"):
            await bot.set_my_commands([("Heures", "Déclarer")])
        await bot.set_my_commands([("start", "Démarrer"), ("heures", "Déclarer des heures")])
        assert [c.command for c in await bot.get_my_commands()] == ["start", "heures"]
    with pytest.raises(InvalidToken):
        async with _bot(bot_api, token="42:wrong"):
            pass
    assert bot_api.sent_messages(user) == []
    first_error = next(c.error for c in bot_api.calls("sendMessage") if not c.ok)
    assert first_error is not None and first_error.startswith("Bad Request: can't parse")


async def test_bot_edits_buttons_and_callback_answers(bot_api: BotApiServer) -> None:
    user = bot_api.user()
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Valider", callback_data="valider")]])
    async with _bot(bot_api) as bot:
        sent = await bot.send_message(user.id, "Candidature reçue", reply_markup=markup)
        press = bot_api.press_button(user, bot_api.last_message(user), text="Valider")
        [update] = await bot.get_updates(timeout=0)
        query = update.callback_query
        assert query is not None and query.data == "valider" and query.message is not None
        assert query.message.message_id == sent.message_id
        assert bot_api.callback_answer(press) is None
        await query.answer("Validée")
        assert bot_api.callback_answer(press) == {
            "text": "Validée",
            "show_alert": False,
            "url": None,
            "cache_time": 0,
        }
        with pytest.raises(BadRequest, match=r"[Qq]uery is too old"):
            await query.answer("deux fois")

        edited = await bot.edit_message_text(
            "Candidature validée", chat_id=user.id, message_id=sent.message_id
        )
        assert isinstance(edited, type(sent)) and edited.edit_date is not None
        current = bot_api.last_message(user)
        # Telegram drops the inline keyboard when an edit does not repeat it.
        assert current.text == "Candidature validée" and current.inline_keyboard == []
        assert current.history[0]["text"] == "Candidature reçue"
        with pytest.raises(BadRequest, match="not modified"):
            await bot.edit_message_text(
                "Candidature validée", chat_id=user.id, message_id=sent.message_id
            )
        await bot.edit_message_reply_markup(user.id, sent.message_id, reply_markup=markup)
        assert bot_api.last_message(user).callback_data() == ["valider"]
        with pytest.raises(LookupError):
            bot_api.press_button(user, sent.message_id, "inconnu")

        goodbye = await bot.send_message(user.id, "Au revoir", reply_markup=ReplyKeyboardRemove())
        assert bot_api.last_message(user).removes_keyboard
        assert await bot.delete_message(user.id, goodbye.message_id)
        assert [m.text for m in bot_api.sent_messages(user)] == ["Candidature validée"]
        with pytest.raises(BadRequest, match="not found"):
            await bot.delete_message(user.id, goodbye.message_id)
        await bot.send_chat_action(user.id, "upload_document")
    assert [c.params["action"] for c in bot_api.calls("sendChatAction")] == ["upload_document"]


async def test_ptb_application_polls_in_the_same_loop(bot_api: BotApiServer) -> None:
    """A whole PTB Application (real HTTPXRequest) runs against the server in the test loop."""

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Oui", callback_data="oui")]])
        await update.effective_message.reply_text("Bienvenue ! Continuer ?", reply_markup=keyboard)

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer()
        await update.callback_query.edit_message_text(f"Choix : {update.callback_query.data}")

    async def document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert (
            update.effective_message is not None and update.effective_message.document is not None
        )
        data = await (await update.effective_message.document.get_file()).download_as_bytearray()
        await update.effective_message.reply_text(f"Reçu {len(data)} octets")

    app = (
        Application.builder()
        .token(bot_api.token)
        .base_url(bot_api.bot_base_url)
        .base_file_url(bot_api.file_base_url)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pressed))
    app.add_handler(MessageHandler(filters.Document.ALL, document))
    user = bot_api.user(first_name="Karim")
    with pytest.raises(RuntimeError, match="wait_for_messages_async"):
        bot_api.wait_for_messages(user, 1, timeout=0.1)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1, drop_pending_updates=True)
        try:
            bot_api.send_command(user, "start")
            [welcome] = await bot_api.wait_for_messages_async(user, 1, timeout=10)
            assert welcome.text == "Bienvenue ! Continuer ?"
            press = bot_api.press_button(user, welcome, "oui")
            await bot_api.wait_for_calls_async("editMessageText", 1, timeout=10)
            assert bot_api.last_message(user).text == "Choix : oui"
            assert bot_api.callback_answer(press) is not None
            bot_api.send_document(user, b"x" * 1234, "releve.xlsx")
            messages = await bot_api.wait_for_messages_async(user, 2, timeout=10)
            assert messages[-1].text == "Reçu 1234 octets"
        finally:
            await app.updater.stop()
            await app.stop()
    assert bot_api.pending_update_ids() == []


def test_bot_api_sync_waiters_with_bot_in_another_thread(bot_api: BotApiServer) -> None:
    user = bot_api.user()

    def run_bot() -> None:
        async def main() -> None:
            async with _bot(bot_api) as bot:
                await asyncio.sleep(0.1)
                await bot.send_message(user.id, "depuis un autre fil")

        asyncio.run(main())

    worker = threading.Thread(target=run_bot)
    worker.start()
    [message] = bot_api.wait_for_messages(user, 1, timeout=10)
    worker.join()
    assert message.text == "depuis un autre fil"
    assert bot_api.wait_for_calls("getMe", 1, timeout=1)
    with pytest.raises(TimeoutError, match="expected 2 bot messages"):
        bot_api.wait_for_messages(user, 2, timeout=0.1)


# ------------------------------------------------------------------------------------------------
# Telegram markup rules (pure functions used by the Bot API server)
# ------------------------------------------------------------------------------------------------
def test_html_entities_use_utf16_offsets() -> None:
    text, entities = parse_html(
        '<b>Bonjour</b> 😀 <i>x</i> &lt;3 <a href="https://ex.test/?a=1&amp;b=2">lien</a>'
    )
    assert text == "Bonjour 😀 x <3 lien"
    assert entities == [
        {"type": "bold", "offset": 0, "length": 7},
        {"type": "italic", "offset": 11, "length": 1},
        {"type": "text_link", "offset": 16, "length": 4, "url": "https://ex.test/?a=1&b=2"},
    ]
    with pytest.raises(ApiError, match='Unmatched end tag at byte offset 7, expected "</i>"'):
        parse_html("<b><i>x</b></i>")


def test_markdown_v2_escapes() -> None:
    text, entities = parse_markdown_v2(r"*Total* : 3\.5 h \(_mars_\)")
    assert text == "Total : 3.5 h (mars)"
    assert entities == [
        {"type": "bold", "offset": 0, "length": 5},
        {"type": "italic", "offset": 15, "length": 4},
    ]
    with pytest.raises(ApiError, match="Can't find end of Bold entity at byte offset 0"):
        parse_markdown_v2("*gras")


def test_servers_leave_no_temp_dirs_behind() -> None:
    dovecot = DovecotServer().start()
    sink = SmtpSink(starttls=True).start()
    api = BotApiServer().start()
    paths = [p for p in (dovecot.tmpdir, sink._tmpdir) if p is not None]
    assert all(Path(p).exists() for p in paths)
    dovecot.stop()
    sink.close()
    api.stop()
    assert not any(Path(p).exists() for p in paths)
    assert dovecot.proc is None and not sink.running
