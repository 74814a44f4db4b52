"""The chat's monthly hours ceiling is the rulebook's ``hours.monthly_hours_max``, refused at the
step it is typed (it was a hard-coded 744 h, under which the rulebook's 208 h was only refused
after the whole flow)."""

from __future__ import annotations

from decimal import Decimal

from bot.console import ConsoleChat
from clauses.rulebook import load_rulebook
from tests.bot.conftest import link_user


def _to_work_step(chat: ConsoleChat) -> None:
    chat.send("/declarer")
    chat.press("MARTIN Paul")
    chat.press("Mai 2025")


def test_hours_above_the_rulebook_ceiling_are_refused_at_the_step(ctx, world, core):
    link_user(ctx, world["company_user"], -1)
    chat = ConsoleChat(core, account=1)
    _to_work_step(chat)
    refused = chat.send("209")[-1].text
    assert refused.startswith("209 h de travail en un mois, ce n'est pas possible")
    assert "208" in refused and "au plus par mois" in refused
    assert "heures de formation" in chat.send("208")[-1].text  # the ceiling itself is accepted


def test_another_rulebook_ceiling_applies(ctx, world, core):
    rulebook = load_rulebook("default").model_copy(deep=True)
    object.__setattr__(rulebook.hours, "monthly_hours_max", Decimal(100))
    object.__setattr__(rulebook.hours, "monthly_hours_full_time", Decimal(90))
    object.__setattr__(ctx, "rulebook", rulebook)
    link_user(ctx, world["company_user"], -1)
    chat = ConsoleChat(core, account=1)
    _to_work_step(chat)
    assert "100" in chat.send("101")[-1].text
    assert "heures de formation" in chat.send("100")[-1].text
