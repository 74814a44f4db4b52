"""Fixtures of the exit tests: the chat tests' world (a company with a linked account, its
facilitator) plus a person whose contract ended the Friday before the fixed clock (16/06/2025)."""

from __future__ import annotations

import datetime as dt

import pytest

from clauses.context import Context
from storage.models import Candidature, Channel, Contact, ContactKind, Engagement, User
from tests import factories as f
from tests.bot.conftest import World, core, invite, link_user, world  # noqa: F401

ENDED = dt.date(2025, 6, 13)


@pytest.fixture
def ended(ctx: Context, world: World) -> dict[str, int]:  # noqa: F811
    """Awa KOFFI, referred by the Mission Locale, hired on a CDD 03/02/2025 → 13/06/2025."""
    with ctx.db.session() as s:
        presc = f.prescriber(s, "Mission Locale Sud")
        s.add(Contact(kind=ContactKind.PRESCRIPTEUR, prescriber_id=presc.id, name="Paul Conseiller",
                      email="conseiller@ml-sud.test"))
        f.participant(s, "Sans", "Contrat")  # so that Awa's person and contract ids differ
        awa = f.participant(s, "Koffi", "Awa", validated_by=s.get(User, world["facilitator"]),
                            prescriber_id=presc.id)
        s.add(Candidature(participant_id=awa.id, company_id=world["company"], prescriber_id=presc.id,
                          source=Channel.EMAIL, submitted_by_email="conseiller@ml-sud.test"))
        k = f.contract(s, awa, s.get(Engagement, world["engagement"]), start=dt.date(2025, 2, 3),
                       end=ENDED)
        assert awa.id != k.id  # a swapped lookup would not go unnoticed
        return {"participant": awa.id, "contract": k.id, "prescriber": presc.id}


def link_company(ctx: Context, world: World, account: int = 1) -> None:  # noqa: F811
    link_user(ctx, world["company_user"], -account)
