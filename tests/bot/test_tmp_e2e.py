import asyncio
from types import SimpleNamespace
from bot.service import ChatService
from tests.bot.conftest import link_user

async def test_smoke(ctx, world, bot_api):
    user = bot_api.user(first_name="Chef")
    link_user(ctx, world["company_user"], user.id)
    settings = SimpleNamespace(telegram_token=bot_api.token, telegram_base_url=bot_api.bot_base_url,
                               telegram_base_file_url=bot_api.file_base_url)
    svc = ChatService(ctx, settings, outbox_interval=0.2, poll_timeout=2)
    await svc.start()
    try:
        uid = bot_api.send_text(user, "/declarer")
        await bot_api.wait_until_confirmed_async(uid)
        msgs = bot_api.sent_messages(user)
        print([m.text for m in msgs], msgs[-1].button_texts())
        uid = bot_api.press_button(user, msgs[-1], text="MARTIN")
        await bot_api.wait_until_confirmed_async(uid)
        msgs = bot_api.sent_messages(user)
        for m in msgs: print(m.text, m.button_texts())
    finally:
        await svc.stop()
    print(bot_api.calls())
    assert 0
