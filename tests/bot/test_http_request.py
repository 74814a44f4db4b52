"""The Bot API transport (``bot.http_request.AiohttpRequest``) against the local Bot API server.

Why: the chat's HTTP client was swapped from PTB's httpx to aiohttp (httpx's connection pool
cost grew with the updates in flight). What PTB relied on must still hold: form fields and
multipart uploads reach Telegram intact, files download, Telegram's refusals keep their PTB
error class (the adapter's retry/outbox rules key on them), and a slow or absent server gives
``TimedOut`` / ``NetworkError`` — never an aiohttp exception leaking into the bot.
"""

from __future__ import annotations

import socket

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import Forbidden, NetworkError, TimedOut

from bot.http_request import AiohttpRequest


def _bot(bot_api, **timeouts) -> Bot:
    return Bot(bot_api.token, base_url=bot_api.bot_base_url,
               base_file_url=bot_api.file_base_url,
               request=AiohttpRequest(8, **timeouts),
               get_updates_request=AiohttpRequest(1))


async def test_text_buttons_and_a_file_go_through_intact(bot_api):
    """A French text with a keyboard, then a document upload and its download back."""
    user = bot_api.user(first_name="Amélie")
    bot = _bot(bot_api)
    async with bot:
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Valider", callback_data="d:ok:3")]])
        await bot.send_message(user.id, "Déclaration : 35,5 h — « novembre »", reply_markup=keyboard)
        sent = await bot.send_document(user.id, b"%PDF-1.4 bilan\n\x00\xff",
                                       filename="bilan 2025.pdf", caption="Bilan")
        assert sent.document is not None
        downloaded = await (await bot.get_file(sent.document.file_id)).download_as_bytearray()
    text, upload = bot_api.sent_messages(user)
    assert text.text == "Déclaration : 35,5 h — « novembre »"
    assert text.callback_data() == ["d:ok:3"]
    assert upload.file_name == "bilan 2025.pdf" and upload.file_bytes == b"%PDF-1.4 bilan\n\x00\xff"
    assert bytes(downloaded) == b"%PDF-1.4 bilan\n\x00\xff"


async def test_telegram_refusal_keeps_its_ptb_error(bot_api):
    """A user who blocked the bot: Forbidden, as with PTB's own transport."""
    user = bot_api.user(first_name="Bruno")
    bot_api.block(user)
    async with _bot(bot_api) as bot:
        with pytest.raises(Forbidden):
            await bot.send_message(user.id, "bonjour")


async def test_a_slow_server_times_out(bot_api):
    """Slower than the read timeout: TimedOut (the adapter hands the reply to the outbox)."""
    user = bot_api.user(first_name="Chloé")
    async with _bot(bot_api, read_timeout=0.1, write_timeout=0.1) as bot:
        bot_api.latency = 0.5  # after getMe
        with pytest.raises(TimedOut):
            await bot.send_message(user.id, "bonjour")


async def test_no_server_is_a_network_error():
    """Nothing listens: NetworkError (the service retries), not an aiohttp exception."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bot = Bot("123:" + "A" * 35, base_url=f"http://127.0.0.1:{port}/bot",
              request=AiohttpRequest(2), get_updates_request=AiohttpRequest(1))
    with pytest.raises(NetworkError) as raised:
        await bot.initialize()  # getMe
    assert not isinstance(raised.value, TimedOut)
    assert "aiohttp.Client" in raised.value.message
