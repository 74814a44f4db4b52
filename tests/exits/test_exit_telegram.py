"""The exit question over the local Bot API server (real PTB stack): pushed by the outbox with
its buttons, answered by two presses that edit the question in place."""

from __future__ import annotations

from sqlalchemy import select

from scheduler.jobs import run_job
from storage.models import Participant
from tests.bot.conftest import link_user, tg  # noqa: F401


async def test_the_exit_question_is_answered_in_telegram(ctx, world, ended, tg):  # noqa: F811
    boss = tg.api.user(first_name="Chef")
    link_user(ctx, world["company_user"], boss.id)
    assert run_job(ctx, "exits").done == 1
    (question,) = await tg.api.wait_for_messages_async(boss, 1)
    assert "Que devient KOFFI Awa ?" in question.text
    assert question.button_texts()[0] == "Emploi durable"
    await tg.press(boss, question, text="Autres sorties")
    edited = tg.last_with_buttons(boss)
    assert "Sans nouvelles" in edited.button_texts()
    replies = await tg.press(boss, edited, text="Sans nouvelles")
    assert "sortie enregistrée — « Autres sorties — Sans nouvelles »" in replies[-1].text
    with ctx.db.session() as s:
        assert s.scalar(select(Participant.exit_situation).where(
            Participant.id == ended["participant"])) == "sans_nouvelles"
