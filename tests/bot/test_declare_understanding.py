"""Issue 18 through the local Bot API server: a company declares in its own words, and the
guided flow checks each value at its step.

Journeys of a company boss (the territory and the contracts are set up by the fixtures: there
is no chat path to create them on this branch; the paths under test — free text, /declarer —
start from no declaration at all). Today is 16/06/2025: the flow offers May and April.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from storage.models import HourDeclaration


def _declared(ctx) -> list[tuple[int, dt.date, Decimal, Decimal]]:
    with ctx.db.session() as s:
        return [(d.contract_id, d.month, d.work_hours, d.training_hours)
                for d in s.scalars(select(HourDeclaration).order_by(HourDeclaration.id))]


async def test_free_text_in_the_company_own_words(ctx, world, tg, boss):
    marie, paul, luc = world["contract_marie"], world["contract_marie"] + 1, world["contract_marie"] + 2

    # « dont »: 35 h in all, 7 of them training → 28 h of work and 7 h of training.
    replies = await tg.text(boss, "Marie Dupont a fait 35h dont 7h de formation en mai")
    summary = replies[-1].text
    assert "Heures de travail : 28 h" in summary and "Heures de formation : 7 h" in summary
    await tg.press(boss, text="✅ Confirmer")
    assert _declared(ctx) == [(marie, dt.date(2025, 5, 1), Decimal(28), Decimal(7))]

    # Several people in one message, one confirmation for all.
    replies = await tg.text(boss, "Martin Paul 20h30, Dupont Luc 10 h avril")
    assert "Récapitulatif (2 déclarations)" in replies[-1].text
    assert "MARTIN Paul" in replies[-1].text and "DUPONT Luc" in replies[-1].text
    replies = await tg.press(boss, text="✅ Confirmer")
    assert "2 déclarations enregistrées" in replies[-1].text
    assert _declared(ctx)[1:] == [(paul, dt.date(2025, 4, 1), Decimal("20.5"), Decimal(0)),
                                  (luc, dt.date(2025, 4, 1), Decimal(10), Decimal(0))]

    # A typo: a suggestion from the company's own people, nothing written.
    replies = await tg.text(boss, "Dupnot Marie 35h avril")
    assert "Vouliez-vous dire « DUPONT Marie » ?" in replies[-1].text
    assert len(_declared(ctx)) == 3
    # The suggestion is a button: pressed, it carries on with the same hours and month.
    replies = await tg.press(boss, text="DUPONT Marie — lot 2")
    assert "Récapitulatif" in replies[-1].text and "avril 2025" in replies[-1].text
    replies = await tg.press(boss, text="✅ Confirmer")
    assert _declared(ctx)[-1] == (marie, dt.date(2025, 4, 1), Decimal(35), Decimal(0))
    # Or the name typed again, corrected, instead of the button.
    assert "Vouliez-vous dire" in (await tg.text(boss, "Matrin Paul 5h mai"))[-1].text
    replies = await tg.text(boss, "Martin Paul 5h mai")
    assert "Récapitulatif" in replies[-1].text and "MARTIN Paul" in replies[-1].text
    await tg.press(boss, text="✅ Confirmer")
    assert _declared(ctx)[-1] == (paul, dt.date(2025, 5, 1), Decimal(5), Decimal(0))
    # Refused with the precise reason, nothing written.
    replies = await tg.text(boss, "Dupont Marie -8h avril")
    assert "ne peut pas être négatif" in replies[-1].text
    replies = await tg.text(boss, "Dupont Marie 35h dont 40h de formation avril")
    assert "dépassent le total" in replies[-1].text
    # A person with one bad value among several: nothing written for anyone.
    replies = await tg.text(boss, "Martin Paul 20h, Dupont Marie 10h mai")
    assert "Je n'ai rien enregistré" in replies[-1].text and "déjà déclarées" in replies[-1].text
    assert len(_declared(ctx)) == 5


async def test_guided_flow_checks_each_value_at_its_step(ctx, world, tg, boss):
    marie = world["contract_marie"]
    await tg.text(boss, "Dupont Marie 35h mai")
    await tg.press(boss, text="✅ Confirmer")

    # May is declared: offered as its correction, never as the default.
    await tg.text(boss, "/declarer")
    replies = await tg.press(boss, text="DUPONT Marie")
    buttons = replies[-1].button_texts()
    assert "✏️ Mai 2025 : déjà déclaré, corriger" in buttons
    assert "Avril 2025 (par défaut)" in buttons
    assert not any("Mai 2025 (par défaut)" in b for b in buttons)

    # Typed anyway: refused at the month step, with the correction offered there.
    replies = await tg.text(boss, "05/2025")
    assert "déjà déclarées" in replies[0].text
    assert "✏️ Corriger la déclaration existante" in replies[0].button_texts()
    assert "Pour quel mois" in replies[-1].text

    # 500 h: refused at the hours step, before the training hours are asked.
    await tg.press(boss, text="Avril 2025 (par défaut)")
    replies = await tg.text(boss, "500")
    assert "ce n'est pas possible" in replies[0].text
    assert "travail" in replies[-1].text and "formation" not in replies[-1].text
    await tg.text(boss, "120")
    await tg.text(boss, "0")
    await tg.press(boss, text="Passer")
    await tg.press(boss, text="✅ Confirmer")
    assert _declared(ctx)[-1] == (marie, dt.date(2025, 4, 1), Decimal(120), Decimal(0))


async def test_refused_month_does_not_keep_its_hours(ctx, world, tg, boss):
    """The hours typed with a refused month are not carried into the next choice."""
    await tg.text(boss, "Dupont Marie 35h mai")
    await tg.press(boss, text="✅ Confirmer")
    replies = await tg.text(boss, "Dupont Marie 50h mai")
    assert "déjà déclarées" in replies[0].text
    replies = await tg.press(boss, text="Avril 2025 (par défaut)")
    assert "Combien d'heures de travail" in replies[-1].text  # asked again, not 50 h kept


async def test_a_new_declaration_typed_mid_flow_replaces_it(ctx, world, tg, boss):
    """At the month step, « Dupont Luc 20h avril » is a declaration, not a month typed wrong."""
    await tg.text(boss, "/declarer")
    await tg.press(boss, text="DUPONT Marie")
    replies = await tg.text(boss, "Dupont Luc 20h avril")
    assert "a été abandonnée" in replies[0].text
    assert "Récapitulatif" in replies[-1].text and "DUPONT Luc" in replies[-1].text
    await tg.press(boss, text="✅ Confirmer")
    luc = world["contract_marie"] + 2
    assert _declared(ctx) == [(luc, dt.date(2025, 4, 1), Decimal(20), Decimal(0))]
    # A number at the hours step is still an answer.
    await tg.text(boss, "/declarer")
    await tg.press(boss, text="DUPONT Marie")
    await tg.press(boss, text="Mai 2025 (par défaut)")
    assert "heures de formation" in (await tg.text(boss, "35"))[-1].text
