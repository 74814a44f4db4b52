"""One person, one record (issue 22), through the channels, from an empty database.

* the same company proposes the same person again in the chat: asked, then linked or not;
* another company e-mails a candidature with the same name and birth date: never merged
  silently, the facilitator sees both side by side and decides (chat button or CLI);
* erasing the kept person covers what the facilitator merged into her;
* buttons are checked like their command (a company pressing `ent:<id>` or `idm:...`).
"""

from __future__ import annotations

from sqlalchemy import func, select

from bot import texts
from clauses.authz import DENIED_FR
from storage.models import Alert, Candidature, Company, Document, Participant
from tests.mail.conftest import PDF_BYTES
from tests.privacy._journey import BTP, PEINTURES, build, candidature_text


def _people(j) -> list[tuple[int, str, str]]:
    with j.ctx.db.session() as s:
        return [(p.id, p.last_name, p.first_name) for p in s.scalars(select(Participant).order_by(Participant.id))]


def _staff_and_company(j):
    fanny = j.account(2, "--role", "facilitateur", "--facilitateur", "fanny@agence.test")
    company = j.account(1, "--role", "entreprise", "--entreprise", "BTP Rhône-Confluent")
    return fanny, company


def _chat_candidate(company, last: str, first: str, contact: str):
    for line in ("/candidat", last, first, contact):
        company.send(line)
    company.press("Terminé")
    company.press("Passer")
    return company.press("Confirmer")[-1]


def test_same_company_is_asked_and_another_person_stays_apart(db, tmp_path, monkeypatch):
    j = build(db, tmp_path, monkeypatch)
    _fanny, company = _staff_and_company(j)
    assert "transmise" in _chat_candidate(company, "Dupont", "Marie", "06 12 34 56 78").text
    question = _chat_candidate(company, "Dupont", "Marie", "+33 6 12 34 56 78")
    assert "déjà connue" in question.text and "même téléphone" in question.text
    assert "transmise" in company.press("une autre personne")[-1].text
    assert [p[1:] for p in _people(j)] == [("Dupont", "Marie"), ("Dupont", "Marie")]
    with j.ctx.db.session() as s:  # the company answered: nothing left for the facilitator
        assert s.scalar(select(func.count()).select_from(Alert).where(
            Alert.dedup_key.like("identity:%"))) == 0
    # a button from an old question does nothing once the flow is over
    assert company.press_data("c:same:zzz")[-1].text == f"ℹ️ {texts.STALE_BUTTON}"
    assert len(_people(j)) == 2


def test_other_company_is_never_merged_silently_facilitator_merges_then_erasure_covers_both(
        db, tmp_path, monkeypatch):
    j = build(db, tmp_path, monkeypatch)
    fanny, _ = _staff_and_company(j)
    j.email(f"RH <{BTP}>", "Candidature", candidature_text("DUPONT", "Marie", "12/03/1990"),
            attachments=[("cv-a.pdf", PDF_BYTES + b"%A", "application/pdf")])
    j.email(f"Direction <{PEINTURES}>", "Candidature",
            candidature_text("Dupont", "Marie", "12/03/1990", phone="07 00 00 00 01"),
            attachments=[("cv-b.pdf", PDF_BYTES + b"%B", "application/pdf")])
    (a, *_), (b, *_) = _people(j)  # two records: company B's CV is not attached to A's person
    with j.ctx.db.session() as s:
        assert {c.participant_id: c.company_id for c in s.scalars(select(Candidature))} == {
            a: s.scalar(select(Company.id).where(Company.name == "BTP Rhône-Confluent")),
            b: s.scalar(select(Company.id).where(Company.name == "Peintures du Pilat"))}
        assert s.get(Participant, a).phone is None
    j.push()
    alert = fanny.last
    assert "Doublon possible (même nom et date de naissance)" in alert.text
    assert f"n° {a} DUPONT Marie" in alert.text and f"n° {b} DUPONT Marie" in alert.text
    assert "Peintures du Pilat" in alert.text and "BTP Rhône-Confluent" in alert.text

    # the company cannot press the facilitator's buttons, nor the staff-only company card
    company = j.transport.chat(1)
    assert company.press_data(f"idm:{a}:{b}")[-1].text == DENIED_FR
    with j.ctx.db.session() as s:
        own = s.scalar(select(Company.id).where(Company.name == "BTP Rhône-Confluent"))
    assert company.press_data(f"ent:{own}")[-1].text == DENIED_FR
    assert "BTP Rhône-Confluent" in fanny.press_data(f"ent:{own}")[-1].text  # staff: allowed
    assert len(_people(j)) == 2

    assert "Fiches fusionnées" in fanny.press_data(f"idm:{a}:{b}")[-1].text
    assert [p[0] for p in _people(j)] == [a]
    with j.ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Candidature)
                        .where(Candidature.participant_id == a)) == 2
        assert s.get(Participant, a).phone == "07 00 00 00 01"
        assert s.scalar(select(Alert.handled_at).where(Alert.dedup_key == f"identity:{a}:{b}"))
    out = j.cli("rgpd", "erase", str(a), "--confirm")
    assert "fiche supprimée" in out
    with j.ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Document).where(Document.kind == "cv")) == 0
        assert s.scalar(select(func.count()).select_from(Candidature)) == 0
    assert not [p for p in (j.data / "documents").rglob("*") if p.is_file()
                and b"%PDF" in p.read_bytes()]


def test_facilitator_decides_by_cli_compare_keep_apart_or_merge(db, tmp_path, monkeypatch):
    j = build(db, tmp_path, monkeypatch)
    j.email(f"RH <{BTP}>", "Candidature", candidature_text("Martin", "Hoa", "01/02/2000",
                                                         email="hoa@exemple.fr"))
    j.email(f"Direction <{PEINTURES}>", "Candidature",
            candidature_text("Martin-Nguyen", "Hoa", "01/02/2000", email="HOA@exemple.fr"))
    (a, *_), (b, *_) = _people(j)
    compared = j.cli("rgpd", "fusion", str(a), str(b), code=1)
    assert "• gardée : " in compared and "hoa@exemple.fr" in compared
    assert "Rien n'a été fusionné" in compared
    assert "deux personnes différentes" in j.cli("rgpd", "fusion", str(a), str(b), "--differentes")
    assert len(_people(j)) == 2
    assert "Accès refusé" in j.cli("rgpd", "fusion", str(a), "999", "--confirm", code=1)
    assert "Fiches fusionnées" in j.cli("rgpd", "fusion", str(a), str(b), "--confirm")
    assert [p[0] for p in _people(j)] == [a]
