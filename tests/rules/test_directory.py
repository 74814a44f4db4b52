"""The adapters' reads in clauses.directory: unambiguous or nothing, and scoped by role."""

from __future__ import annotations

from clauses import directory
from clauses.actors import Actor
from storage.models import Channel, Role
from tests import factories as f


def _prescriber(presc_id: int) -> Actor:
    return Actor.from_email("conseiller@ml.test", role=Role.PRESCRIPTEUR, prescriber_id=presc_id)


def test_a_lot_is_named_only_when_unambiguous(db):
    with db.session() as s:
        t = f.territory(s)
        presc = f.prescriber(s, "Mission Locale")
        actor = _prescriber(presc.id)
        lot2, company = t["lot"].id, t["company"].id
        # Reference typed in another case and with spaces: the one lot, its one company.
        assert directory.candidature_lot(s, actor, " 2025-017 ", 2) == (lot2, company)
        assert directory.candidature_lot(s, actor, "2025-017", None) == (lot2, company)
        # A second lot: the market alone no longer names one; a lot number still does.
        lot5 = f.lot(s, t["market"], 5)
        assert directory.candidature_lot(s, actor, "2025-017", None) == (None, None)
        assert directory.candidature_lot(s, actor, "2025-017", 5) == (lot5.id, None)  # no company
        # Two companies on lot 2: the lot, but no company guessed.
        f.engagement(s, t["lot"], f.company(s, "Maçonnerie Saint-Genis"))
        assert directory.candidature_lot(s, actor, "2025-017", 2) == (lot2, None)
        assert directory.candidature_lot(s, actor, "2025-099", 2) == (None, None)
        assert directory.candidature_lot(s, actor, "", 2) == (None, None)


def test_who_may_not_submit_gets_no_lot(db):
    with db.session() as s:
        t = f.territory(s)
        referent = Actor.from_email("juliette.rey@oullins.test", role=Role.REFERENT,
                                    donneur_id=t["donneur"].id)
        assert directory.candidature_lot(s, referent, "2025-017", 2) == (None, None)


def test_a_market_is_read_only_by_its_own_donneur(db):
    with db.session() as s:
        t = f.territory(s)
        other = f.donneur(s, "Métropole de Lyon")
        own = Actor.from_email("juliette.rey@oullins.test", role=Role.REFERENT, donneur_id=t["donneur"].id)
        stranger = Actor.from_email("marc@metropole.test", role=Role.REFERENT, donneur_id=other.id)
        staff = Actor.from_user(t["facilitator"], Channel.EMAIL)
        found = directory.readable_market(s, own, "2025-017")
        assert found is not None and found.id == t["market"].id
        assert directory.readable_market(s, stranger, "2025-017") is None
        assert directory.readable_market(s, staff, "2025-017") is not None
        assert directory.readable_market(s, own, "2025-099") is None


def test_company_search_is_scoped_to_the_company_itself(db):
    with db.session() as s:
        t = f.territory(s)
        f.company(s, "BTP Rhône Sud")
        staff = Actor.from_user(t["facilitator"], Channel.TELEGRAM)
        boss = Actor.from_user(t["company_user"], Channel.TELEGRAM)
        assert [c.name for c in directory.search_companies(s, staff, "btp rhône")] == [
            "BTP Rhône", "BTP Rhône Sud"]
        assert [c.name for c in directory.search_companies(s, boss, "btp")] == ["BTP Rhône"]
        # LIKE wildcards typed by a person are text, not patterns.
        assert directory.search_companies(s, staff, "%") == []
        assert directory.company_named(s, "btp rhône") == t["company"].id
        assert directory.company_named(s, "BTP") is None
