"""/point for a référent through the local Bot API server: QPV hours done by one resident are
not shown to the buyer (they would be her own hours); the facilitator reads them exactly.

The territory comes from the shared bot fixtures; one QPV resident with declared hours is added
with factories; the path under test is the chat command and what each person reads.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from storage.models import Market
from tests import factories as f
from tests.bot.conftest import link_user
from tests.privacy._world import declaration


async def test_referent_point_hides_one_residents_qpv_hours(ctx, world, tg):
    with ctx.db.session() as s:
        s.get(Market, world["market"]).qpv_hours_share_min = Decimal("0.05")
        sami = f.participant(s, "Benali", "Sami", qpv=True)
        k = f.contract(s, sami, s.get(Market, world["market"]).lots[0].engagements[0],
                       start=dt.date(2025, 1, 6))
        for month in (1, 2, 3):
            declaration(s, k, dt.date(2025, month, 1), 7)
        s.commit()
    juliette, fanny = tg.api.user(), tg.api.user()
    link_user(ctx, world["referent_user"], juliette.id)
    link_user(ctx, world["facilitator"], fanny.id)

    buyer = (await tg.text(juliette, "/point 2025-017"))[0].text
    qpv = next(line for line in buyer.splitlines() if "QPV" in line)
    assert qpv.startswith("Résident·es QPV : non diffusé (< 3 personnes), objectif 5 %"), qpv
    assert "21" not in qpv  # the resident's 3 × 7 h

    staff = (await tg.text(fanny, "/point 2025-017"))[0].text
    qpv = next(line for line in staff.splitlines() if "QPV" in line)
    assert qpv.replace("\u202f", " ").startswith("Résident·es QPV : 21 h ("), qpv
