"""The admin CLI's reads in clauses.listings: exact keys, no swapped ids, nothing guessed."""

from __future__ import annotations

from decimal import Decimal

from clauses import listings
from storage.models import Role
from tests import factories as f


def test_a_lot_is_found_by_its_market_and_number_never_by_swapped_ids(db):
    with db.session() as s:
        d = f.donneur(s, "Ville d'Oullins")
        m1, m2 = f.market(s, d, reference="2025-001"), f.market(s, d, reference="2025-002")
        # market 1 lot 2 and market 2 lot 1: swapping (market, number) would find the other one
        a = f.lot(s, m1, 2)
        b = f.lot(s, m2, 1)
        assert listings.lot_by_number(s, m1.id, 2) is a
        assert listings.lot_by_number(s, m2.id, 1) is b
        assert listings.lot_by_number(s, m1.id, 1) is None
        c = f.company(s, "BTP Rhône")
        e = f.engagement(s, b, c)
        assert listings.engagement_on_lot(s, m2.id, 1, c.id) is e
        assert listings.engagement_on_lot(s, m1.id, 2, c.id) is None
        assert listings.engagement_of(s, b.id, c.id) is e
        assert listings.engagement_of(s, a.id, c.id) is None


def test_names_match_without_case_or_accents_and_homonyms_are_all_returned(db):
    with db.session() as s:
        d = f.donneur(s, "Ville d'Écully")
        assert listings.donneur_named(s, "  VILLE D'ECULLY ") is d
        assert listings.donneur_named(s, "Ville d'Ecul") is None  # no partial match guessed
        x, y = f.company(s, "Maçonnerie Sud"), f.company(s, "MACONNERIE SUD")
        assert {c.id for c in listings.companies_named(s, "maconnerie sud")} == {x.id, y.id}
        assert listings.company_by_siret(s, x.siret) is x
        fac = f.user(s, Role.FACILITATEUR, display_name="Fanny Morel", email="fanny@agence.test")
        f.user(s, Role.ADMIN, display_name="Admin", email="admin@agence.test")
        assert listings.facilitator_by_email(s, " Fanny@Agence.test ") is fac
        assert listings.facilitator_by_email(s, "admin@agence.test") is None  # not a facilitator


def test_listings_count_each_row_once(db):
    with db.session() as s:
        fac = f.user(s, Role.FACILITATEUR, display_name="Fanny Morel")
        d = f.donneur(s, "Ville d'Oullins")
        f.donneur(s, "Métropole")
        m = f.market(s, d, reference="2025-017", facilitator=fac)
        c = f.company(s, "BTP Rhône", facilitator=fac)
        f.engagement(s, f.lot(s, m, 1, 100), c)
        f.engagement(s, f.lot(s, m, 2, 250), c)
        assert [(dn.name, n) for dn, n in listings.donneurs_with_market_counts(s)] == [
            ("Métropole", 0), ("Ville d'Oullins", 1)]
        [(company, n, hours, fac_name)] = listings.companies_with_totals(s)
        assert (company.id, n, hours, fac_name) == (c.id, 2, Decimal(350), "Fanny Morel")
        [entry] = listings.market_listings(s, d.id)
        assert [lt.number for lt in entry.lots] == [1, 2]
        assert all(entry.holders[lt.id] == ["BTP Rhône"] for lt in entry.lots)
        [p] = listings.facilitator_portfolios(s)
        assert (p.user.id, p.markets, p.companies) == (fac.id, 1, 1)
