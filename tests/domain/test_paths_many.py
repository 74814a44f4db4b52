"""Openings of many endings at once (clauses.paths.openings_many, the daily job's path): each
ending gets what it gets alone, whatever the other endings' trades and days.

Why: the job builds one ranking per trade family and day window, then drops it before the next
(a national first run held every ranking at once); endings of two trades, two windows and a
contract given twice must come out as they do one at a time, the first day given counting.
"""

from __future__ import annotations

import datetime as dt

from clauses.paths import openings, openings_many
from storage.models import Channel, HourDeclaration
from tests import factories as f


def test_many_endings_of_two_trades_and_two_windows_get_what_each_gets_alone(ctx):
    with ctx.db.session() as s:
        d = f.donneur(s)
        m = f.market(s, d, start=dt.date(2025, 1, 1), end=dt.date(2026, 12, 31))
        here = f.engagement(s, f.lot(s, m, 1, trade="maconnerie"), f.company(s, "Ici"), 300)
        close = f.engagement(s, f.lot(s, m, 2, trade="maconnerie"), f.company(s, "Proche"), 100)
        f.engagement(s, f.lot(s, m, 3, trade="maconnerie_pierre"), f.company(s, "Autre"), 200)
        paint = f.engagement(s, f.lot(s, m, 4, trade="peinture_interieure"),
                             f.company(s, "Pinceau"), 300)
        f.engagement(s, f.lot(s, m, 5, trade="peinture_exterieure"), f.company(s, "Rouleau"), 400)
        early = f.contract(s, f.participant(s, "Koffi", "Awa"), here,
                           start=dt.date(2025, 3, 1), end=dt.date(2025, 6, 10))
        late = f.contract(s, f.participant(s, "Diallo", "Mariam"), here,
                          start=dt.date(2025, 3, 1), end=dt.date(2025, 7, 1))
        painter = f.contract(s, f.participant(s, "Martin", "Léa"), paint,
                             start=dt.date(2025, 3, 1), end=dt.date(2025, 7, 1))
        # 60 h at « Proche » in July: counted for an ending on 1 July, not for one on 10 June
        worker = f.contract(s, f.participant(s, "Petit", "Jean"), close,
                            start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31))
        s.add(HourDeclaration(contract_id=worker.id, month=dt.date(2025, 7, 1), work_hours=60,
                              source=Channel.CLI, counted_hours=60))
        s.flush()
        asked = [(early.id, dt.date(2025, 6, 10)), (painter.id, dt.date(2025, 7, 1)),
                 (late.id, dt.date(2025, 7, 1)),
                 (early.id, dt.date(2025, 7, 1))]  # given twice: the first day counts

        many = openings_many(s, asked)

        def seen(contract_id: int) -> list[tuple[str, int]]:
            return [(o.company_name, int(o.remaining)) for o in many[contract_id]]

        assert seen(early.id) == [("Autre", 200), ("Proche", 100)]
        assert seen(late.id) == [("Autre", 200), ("Proche", 40)]
        assert seen(painter.id) == [("Rouleau", 400)]
        assert set(many) == {early.id, late.id, painter.id}
        for contract_id, on in asked[:3]:
            assert many[contract_id] == openings(s, contract_id, on)
