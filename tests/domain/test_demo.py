"""The demo territory is created once and is consistent enough to show reminders and bilans."""

from __future__ import annotations

from sqlalchemy import func, select

from clauses.demo import seed_demo
from storage.models import Alert, Donneur, HourDeclaration, Market


def test_demo_creates_a_territory_once(ctx):
    with ctx.db.session() as s:
        res = seed_demo(ctx, s)
        assert res.created and set(res.invitations) == {"facilitatrice", "entreprise", "referent"}
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Donneur)) == 2
        assert s.scalar(select(func.count()).select_from(Market)) == 3
        assert s.scalar(select(func.count()).select_from(HourDeclaration)) > 50
        assert s.scalar(select(func.count()).select_from(Alert)) >= 1
        again = seed_demo(ctx, s)
        assert not again.created
        assert s.scalar(select(func.count()).select_from(Market)) == 3
