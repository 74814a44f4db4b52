"""The shortcut example the bot itself gives (/aide, « pas compris ») works on the demo a
newcomer starts with (issue 18: « Dupont Marie 35h mars lot 2 » named a lot Marie is not on)."""

from __future__ import annotations

import re

from bot import texts
from bot.console import ConsoleChat
from bot.core import ChatCore
from clauses.demo import seed_demo
from storage.models import Role


def test_the_example_in_the_help_is_understood_on_the_demo(ctx):
    with ctx.db.session() as s:
        demo = seed_demo(ctx, s, only_if_empty=True)
    chat = ConsoleChat(ChatCore(ctx))
    assert "Bienvenue" in chat.send(f"/start {demo.invitations['entreprise']}")[0].text
    example = re.search(r"écrivez « ([^»]+) » pour déclarer", texts.HELP[Role.ENTREPRISE]).group(1)
    assert example in texts.NOT_UNDERSTOOD_COMPANY
    summary = chat.send(example)[-1]
    assert "Récapitulatif de la déclaration" in summary.text and "DUPONT Marie" in summary.text
    assert "Heures de travail : 35 h" in summary.text
    assert "✅ Confirmer" in summary.labels
    assert "Déclaration enregistrée" in chat.press("✅ Confirmer")[-1].text
