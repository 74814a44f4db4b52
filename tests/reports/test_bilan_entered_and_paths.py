"""Persons entered in the period and persons with a path (two contracts or more), at the edges.

The two counts read one grouping of the scope's contracts per person (issue 20, k21pgbilan:
« entered » was an anti-join over every contract of the database). A person counts as entered
when one of her contracts running in the period began in it and none of her contracts in the
bilan's scope began earlier; an earlier contract for another buyer does not count, a contract
beginning after the period's end does not either. Paths count the scope's contracts begun by
the period's end.
"""

from __future__ import annotations

import datetime as dt

from clauses.bilan import annual_figures, territory_figures
from storage.db import Database
from tests import factories as f

Y0, Y1 = dt.date(2025, 1, 1), dt.date(2025, 12, 31)


def test_entered_and_paths_at_the_edges_of_the_period_and_of_the_scope(
    db: Database, rulebook
) -> None:
    with db.session() as s:
        ours, theirs = f.donneur(s, "Ville d'Oullins"), f.donneur(s, "Ville de Givors")
        old = f.market(s, ours, reference="2024-001", start=dt.date(2024, 1, 1),
                       end=dt.date(2025, 12, 31))
        new = f.market(s, ours, reference="2025-001")
        other = f.market(s, theirs, reference="2024-900", start=dt.date(2024, 1, 1),
                         end=dt.date(2025, 6, 30))
        company = f.company(s, "BTP Rhône")
        e_old = f.engagement(s, f.lot(s, old), company)
        e_new = f.engagement(s, f.lot(s, new), company)
        e_other = f.engagement(s, f.lot(s, other), company)
        # Anne: one of our contracts began in 2024 (ending 31/01/2025, so running in the
        # period), another in 2025: not entered, a path.
        anne = f.participant(s, "Martin", "Anne")
        f.contract(s, anne, e_old, start=dt.date(2024, 6, 1), end=dt.date(2025, 1, 31))
        f.contract(s, anne, e_new, start=dt.date(2025, 3, 1))
        # Bruno: his first contract begins on the period's first day: entered, no path.
        bruno = f.participant(s, "Petit", "Bruno")
        f.contract(s, bruno, e_new, start=Y0)
        # Chloé: a contract for the other buyer in 2024, ours on the period's last day: entered
        # for us (the earlier contract is not in our scope), a path only France-wide.
        chloe = f.participant(s, "Durand", "Chloé")
        f.contract(s, chloe, e_other, start=dt.date(2024, 3, 1), end=dt.date(2024, 9, 30))
        f.contract(s, chloe, e_new, start=Y1, end=None)
        # David: a 2025 contract, and one beginning the day after the period: entered, no path.
        david = f.participant(s, "Moreau", "David")
        f.contract(s, david, e_new, start=dt.date(2025, 6, 15))
        f.contract(s, david, e_old, start=dt.date(2026, 1, 1), end=None)
        # Emma: her only contract ended on the eve of the period: neither (not in the period).
        emma = f.participant(s, "Roux", "Emma")
        f.contract(s, emma, e_old, start=dt.date(2024, 2, 1), end=dt.date(2024, 12, 31))
        ours_id = ours.id

    with db.read_session() as s:
        annual = annual_figures(s, ours_id, Y0, Y1, rulebook)
        france = territory_figures(s, Y0, Y1, rulebook)
    assert (annual.persons, annual.persons_entered, annual.persons_in_paths) == (4, 3, 1)
    # All of France: the other buyer's market runs in 2025 too, so Chloé's 2024 contract on it
    # is in scope (not running in 2025, so not a contract of the period): not entered, a path.
    assert (france.persons, france.persons_entered, france.persons_in_paths) == (4, 2, 2)
