"""/bilan <année> <donneur> through the local Bot API server (issue 18): the donneur typed is
the donneur shown, or a clear refusal — never another one silently.

The territory is set up by the fixtures (a second donneur added); the path under test is the
command's argument.
"""

from __future__ import annotations

from tests import factories as f


async def test_referent_naming_another_donneur_is_refused_not_redirected(ctx, world, tg):
    with ctx.db.session() as s:
        f.market(s, f.donneur(s, "Rhône Habitat Social"), reference="2025-900")
    juliette = tg.linked(world["referent_user"])

    replies = await tg.text(juliette, "/bilan 2025 Rhône Habitat Social")
    assert [r.text for r in replies] == [
        "Vous suivez les marchés de Ville d'Oullins : « Rhône Habitat Social » n'en fait pas "
        "partie. Tapez « /bilan 2025 » pour le bilan de Ville d'Oullins."]
    replies = await tg.text(juliette, "/bilan 2025 ville d'oullins")  # their own: shown
    assert "Bilan annuel 2025 — Ville d'Oullins" in replies[0].text
    assert "Rhône Habitat" not in replies[0].text


async def test_facilitator_gets_the_donneur_named(ctx, world, tg):
    with ctx.db.session() as s:
        f.market(s, f.donneur(s, "Rhône Habitat Social"), reference="2025-900")
    fanny = tg.linked(world["facilitator"])

    replies = await tg.text(fanny, "/bilan 2025 Rhône Habitat Social")
    assert "Bilan annuel 2025 — Rhône Habitat Social" in replies[0].text
    replies = await tg.text(fanny, "/bilan RHONE habitat 2025")  # accents, case, year last
    assert "Bilan annuel 2025 — Rhône Habitat Social" in replies[0].text
    replies = await tg.text(fanny, "/bilan 2025 RHONE habitat")
    assert "Bilan annuel 2025 — Rhône Habitat Social" in replies[0].text
    replies = await tg.text(fanny, "/bilan 2025 Rhone Habitat Sociale")
    assert replies[0].text.startswith("Donneur d'ordre inconnu : « Rhone Habitat Sociale »")
    assert "Rhône Habitat Social" in replies[0].text  # the close name, to retry
