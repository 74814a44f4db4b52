"""Fixtures of the chat tests: a small territory with two people on one lot, accounts to link.

Both backends need the same world: a company with two participants (so the guided flow has a
real choice to make), a second company (for the scoping tests), a facilitator and a référent.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

import clauses.bilan
from bot.core import ChatCore
from clauses import chat_reports
from clauses.context import Context
from clauses.invitations import issue_invitation
from storage.models import ChatLink, Role, User
from tests import factories as f

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    b"\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)


@dataclass
class World:
    ids: dict[str, int]

    def __getitem__(self, key: str) -> int:
        return self.ids[key]


def link(session: Session, user: User, platform_id: int) -> None:
    """What a redeemed invitation does: the account reaches this user."""
    user.telegram_user_id = platform_id
    session.add(ChatLink(user_id=user.id, chat_id=platform_id))
    session.flush()


@pytest.fixture
def world(ctx: Context) -> World:
    with ctx.db.session() as s:
        t = f.territory(s)
        fac = t["facilitator"]
        bob = f.participant(s, "Martin", "Paul", validated_by=fac, birth=dt.date(1985, 3, 2))
        f.contract(s, bob, t["engagement"], start=dt.date(2025, 1, 6), end=None)
        luc = f.participant(s, "Dupont", "Luc", validated_by=fac, birth=dt.date(1999, 8, 1))
        f.contract(s, luc, t["engagement"], start=dt.date(2025, 3, 3), end=None)
        other_company = f.company(s, "Peintures Lyonnaises", facilitator=fac)
        lot3 = f.lot(s, t["market"], 3, hours=200, label="Peinture")
        other_eng = f.engagement(s, lot3, other_company)
        carla = f.participant(s, "Durand", "Carla", validated_by=fac)
        other_contract = f.contract(s, carla, other_eng)
        other_boss = f.user(s, Role.ENTREPRISE, display_name="Cheffe Peintures",
                            company_id=other_company.id)
        ref_user = f.user(s, Role.REFERENT, display_name="Juliette Rey",
                          donneur_id=t["donneur"].id, email="juliette.rey@oullins.test")
        ids = {
            "facilitator": fac.id, "company_user": t["company_user"].id,
            "company": t["company"].id, "market": t["market"].id, "lot": t["lot"].id,
            "engagement": t["engagement"].id, "contract_marie": t["contract"].id,
            "participant_marie": t["participant"].id, "participant_paul": bob.id, "participant_luc": luc.id,
            "other_company": other_company.id, "other_contract": other_contract.id,
            "other_user": other_boss.id, "referent_user": ref_user.id,
            "donneur": t["donneur"].id, "lot3": lot3.id,
        }
    return World(ids)


@pytest.fixture
def core(ctx: Context) -> ChatCore:
    return ChatCore(ctx)


@pytest.fixture
def invite(ctx: Context):
    """invite(role, **scope) -> a fresh invitation code (valid 14 days)."""

    def make(role: Role = Role.ENTREPRISE, *, valid_days: int = 14, **scope) -> str:
        with ctx.db.session() as s:
            code, _ = issue_invitation(s, ctx.clock, role=role, display_name=scope.pop(
                "display_name", "Invité"), valid_days=valid_days, **scope)
        return code

    return make


def link_user(ctx: Context, user_id: int, platform_id: int) -> None:
    with ctx.db.session() as s:
        link(s, s.get(User, user_id), platform_id)


HOURS_35 = Decimal("35")


class Telegram:
    """Plays users against the bot through the local Bot API server (real PTB HTTP stack).

    Each helper sends one update and returns the messages the bot sent in answer: it waits for
    the confirmation (the update committed, its replies journaled), then for the bot to finish
    handling it (the replies delivered).
    """

    def __init__(self, ctx: Context, api) -> None:
        self.ctx = ctx
        self.api = api
        self.service = None

    def settings(self):
        from types import SimpleNamespace

        return SimpleNamespace(telegram_token=self.api.token,
                               telegram_base_url=self.api.bot_base_url,
                               telegram_base_file_url=self.api.file_base_url)

    async def start(self) -> None:
        from bot.service import ChatService

        self.service = ChatService(self.ctx, self.settings(), outbox_interval=0.1, poll_timeout=5)
        await self.service.start()

    async def stop(self) -> None:
        if self.service is not None:
            await self.service.stop()
            self.service = None

    async def _after(self, user, send) -> list:
        before = len(self.api.sent_messages(user))
        update_id = send()
        await self.api.wait_until_confirmed_async(update_id, timeout=15)
        await self.delivered()
        return self.api.sent_messages(user)[before:]

    async def delivered(self, timeout: float = 15.0) -> None:
        """Until the bot has no update in hand any more: a confirmed update's replies may still
        be on their way (the adapter confirms once the update and its replies are committed)."""
        telegram = self.service.telegram if self.service is not None else None
        deadline = asyncio.get_running_loop().time() + timeout
        while telegram is not None and telegram.handling:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("the bot is still handling an update")
            await asyncio.sleep(0.005)

    async def text(self, user, text: str) -> list:
        return await self._after(user, lambda: self.api.send_text(user, text))

    async def press(self, user, message=None, text: str | None = None,
                    data: str | None = None) -> list:
        message = message or self.last_with_buttons(user)
        return await self._after(
            user, lambda: self.api.press_button(user, message, callback_data=data, text=text))

    async def tampered_press(self, user, data: str) -> list:
        """A callback query with data the bot never offered (a modified client)."""
        message = self.api.sent_messages(user)[-1]
        payload = {"callback_query": {
            "id": "99" + str(len(self.api.calls())), "from": user.to_dict(),
            "message": message.payload, "chat_instance": "1", "data": data,
        }}
        return await self._after(user, lambda: self.api.send_update(payload))

    async def document(self, user, content: bytes, name: str, mime: str | None = None) -> list:
        return await self._after(user, lambda: self.api.send_document(user, content, name, mime))

    async def photo(self, user, content: bytes) -> list:
        return await self._after(user, lambda: self.api.send_photo(user, content))

    def linked(self, user_id: int):
        """A new Telegram account already linked to the clausebot user ``user_id``."""
        account = self.api.user()
        link_user(self.ctx, user_id, account.id)
        return account

    def last_with_buttons(self, user):
        for message in reversed(self.api.sent_messages(user)):
            if message.buttons:
                return message
        raise LookupError("no bot message with buttons")


@pytest.fixture
async def tg(ctx: Context, bot_api):
    harness = Telegram(ctx, bot_api)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


@pytest.fixture
def boss(tg: Telegram, world: World):
    """The company's boss on Telegram, already linked to the company's user account."""
    return tg.linked(world["company_user"])


@pytest.fixture
def big(monkeypatch):
    """Every donneur counts as big: its chat bilan leaves the update path (deferred)."""
    monkeypatch.setattr(chat_reports, "DEFER_FROM_MARKETS", 1)


@pytest.fixture
def gate(monkeypatch):
    """Holds the bilan's computation until the test opens it (a slow national bilan):
    ``started, opened = gate``."""
    opened = threading.Event()
    started = threading.Event()
    original = clauses.bilan.annual_figures

    def slow(*args, **kwargs):
        started.set()
        assert opened.wait(30), "the test never opened the gate"
        return original(*args, **kwargs)

    monkeypatch.setattr(clauses.bilan, "annual_figures", slow)
    return started, opened
