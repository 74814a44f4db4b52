"""One lookup for the adviser who hears about a referred person (hire and exit feedback): the
candidature's sender, else the organisation's advisers, else nobody. Factories are fine here: this
is the rule; the journeys (tests/journeys/test_person_path.py) drive it through the channels."""

from __future__ import annotations

from clauses.prescriber_feedback import NOBODY, PrescriberRecipients, prescriber_recipients
from storage.models import Candidature, Channel, Contact, ContactKind, Role
from tests import factories as f


def _world(s):
    presc = f.prescriber(s, "Mission Locale Sud")
    s.add_all([
        Contact(kind=ContactKind.PRESCRIPTEUR, prescriber_id=presc.id, name="Paul",
                email="Paul@ML-Sud.test"),
        Contact(kind=ContactKind.PRESCRIPTEUR, prescriber_id=presc.id, name="Ines",
                email="ines@ml-sud.test"),
        Contact(kind=ContactKind.PRESCRIPTEUR, prescriber_id=presc.id, name="Sans adresse"),
    ])
    f.participant(s, "Autre", "Personne")  # person and candidature ids differ
    return presc, f.company(s)


def test_the_sender_first_then_the_organisation_then_nobody(db):
    with db.session() as s:
        presc, company = _world(s)
        adviser = f.user(s, Role.PRESCRIPTEUR, prescriber_id=presc.id, email="Claire@ML-Sud.test")
        boss = f.user(s, Role.ENTREPRISE, company_id=company.id, email="rh@btp.test")
        by_account, by_mail, by_company, own, on_file, nobody = (
            f.participant(s, n, "X") for n in ("Un", "Deux", "Trois", "Quatre", "Cinq", "Six"))
        on_file.prescriber_id = presc.id
        cands = [
            Candidature(participant_id=by_account.id, prescriber_id=presc.id, source=Channel.TELEGRAM,
                        submitted_by_user_id=adviser.id),
            Candidature(participant_id=by_mail.id, prescriber_id=presc.id, source=Channel.EMAIL,
                        submitted_by_email="Claire.Dupuis@ml-sud.test"),
            # a company typing in a prescriber's candidate: the organisation's advisers
            Candidature(participant_id=by_company.id, prescriber_id=presc.id, company_id=company.id,
                        source=Channel.TELEGRAM, submitted_by_user_id=boss.id),
            Candidature(participant_id=own.id, company_id=company.id, source=Channel.TELEGRAM,
                        submitted_by_user_id=boss.id),
        ]
        s.add_all(cands)
        s.flush()
        team = ("paul@ml-sud.test", "ines@ml-sud.test")
        assert prescriber_recipients(s, by_account.id) == PrescriberRecipients(
            adviser.id, ("claire@ml-sud.test",))
        assert prescriber_recipients(s, by_mail.id) == PrescriberRecipients(
            None, ("claire.dupuis@ml-sud.test",))
        assert prescriber_recipients(s, by_company.id) == PrescriberRecipients(None, team)
        assert prescriber_recipients(s, own.id) == NOBODY
        assert prescriber_recipients(s, own.id, cands[3]) == NOBODY  # the hire's own candidature
        assert prescriber_recipients(s, on_file.id) == PrescriberRecipients(None, team)
        assert prescriber_recipients(s, nobody.id) == NOBODY
