"""Bad input to the escalation and the notes, through the channels: each gets a French answer
saying what to do, and writes nothing. Also: consent by the référent's chat button (pressed
twice), penalties once the lot's terms are entered, a case on a company on track."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from storage.models import (
    EscalationCase,
    EscalationState,
    EscalationStep,
    Lot,
    OutboxMessage,
    QualitativeNote,
)
from tests.escalation.world import World, territory
from tests.queries import count_rows


def test_penalties_need_the_lots_terms_and_consent_by_chat_button(ctx, tmp_path, monkeypatch):
    w = World(ctx, tmp_path, monkeypatch)
    territory(w)
    opened = w.fanny.send("/procedure ouvrir 2025-017 lot 2 Peintures : retard constaté")[0].text
    assert "Procédure n° 1 ouverte : Peintures du Pilat" in opened
    assert "À noter" not in opened  # late: nothing to warn about
    bad = w.fanny.send("/procedure 1 contact pigeon Message envoyé")[0].text
    assert "Type de contact inconnu : « pigeon »" in bad and "telephone" in bad
    bad = w.fanny.send("/procedure 1 contact telephone")[0].text
    assert "Ajoutez une courte note au contact" in bad
    early = w.fanny.send("/procedure 1 accord")[0].text  # no contact yet
    assert "il faut au moins 2 contacts dont 1 par écrit ; enregistrés : 0 dont 0" in early
    assert count_rows(ctx.db, EscalationStep) == 1  # the opening only
    w.fanny.send("/procedure 1 contact rencontre Visite de chantier, le gérant promet un plan")
    w.fanny.send("/procedure 1 contact courrier Lettre recommandée du 16/06")  # written
    w.fanny.send("/procedure 1 accord")
    w.push()
    request = next(m for m in w.juliette.transcript if "Accord demandé (procédure n° 1)" in m.text)
    first = w.juliette.press_data(next(d for d in request.callbacks if d == "esc:consent:1"))
    assert "Accord enregistré pour la procédure n° 1" in first[-1].text
    assert "échéance le 01/07/2025" in first[-1].text
    second = w.juliette.press_data("esc:consent:1")  # pressed twice
    assert "était déjà enregistré (le 16/06/2025)" in second[-1].text
    assert count_rows(ctx.db, OutboxMessage, OutboxMessage.dedup_key.like("escalade_courrier:case:1:%")) == 2
    # A company user pressing a consent button it was never offered: refused.
    refused = w.pilat.press_data("esc:consent:1")
    assert "n'est pas référent·e du donneur d'ordre" in refused[-1].text

    w.at(2025, 7, 2)
    w.fanny.press_data("esc:buyer:1")
    w.fanny.send("/procedure 1 defaillance")
    before = count_rows(ctx.db, OutboxMessage)
    refusal = w.fanny.send("/procedure 1 penalites")[0].text
    assert ("Le lot 2 du marché 2025-017 n'a pas de termes de pénalités : saisissez ceux du "
            "marché avant le calcul, par exemple « clausebot lot penalites --marche 2025-017 "
            "--lot 2 --par-heure 60 --par-jour 100 --plafond 20 % »") in refusal
    assert count_rows(ctx.db, OutboxMessage) == before
    with ctx.db.session() as s:
        assert s.get(EscalationCase, 1).state == EscalationState.DEFAILLANCE_NOTIFIEE

    out = w.cli("lot", "penalites", "--marche", "2025-017", "--lot", "2", "--plafond", "12,5 %",
                ok=False)
    assert "Plafond « 12,5 % » : un pourcentage entier (ex. 20 %). Rien n'a été enregistré." in out
    out = w.cli("lot", "penalites", "--marche", "2025-017", "--lot", "9", ok=False)
    assert "Pas de lot 9 sur le marché 2025-017 (lots : 1, 2)" in out
    out = w.cli("lot", "penalites", "--marche", "2025-017", "--lot", "2", "--par-heure", "45")
    assert "par heure non réalisée : 45,00 € HT\n" in out
    assert "par jour de retard après mise en demeure : 100,00 € HT (valeur par défaut du règlement)" in out
    with ctx.db.session() as s:
        lot = s.scalar(select(Lot).where(Lot.number == 2))
        assert (lot.penalty_per_hour, lot.penalty_per_day_late, lot.penalty_cap_share) == (
            Decimal(45), Decimal(100), Decimal("0.20"))
    statement = w.fanny.send("/procedure 1 penalites")[0].text
    # By hand: 210 h × 45 € = 9 450 €; deadline 01/07, today 02/07: 1 day × 100 € = 100 €.
    assert "210 h × 45,00 € HT par heure = 9 450,00 € HT" in statement
    assert "1 jour après l'échéance du courrier × 100,00 € HT par jour = 100,00 € HT" in statement
    assert "Total sous le plafond, retenu : 9 550,00 € HT" in statement
    w.fanny.send("/procedure 1 clore regularise Plan reçu, la Ville renonce aux pénalités")
    closed = w.fanny.send("/procedure 1 accord")[0].text  # a letter on a closed case
    assert "La procédure n° 1 est close : le courrier de rappel des obligations n'est plus possible" in closed
    late = w.pilat.send("/reponse Nous avons recruté")[0].text
    assert "Aucune procédure de relance en cours pour votre entreprise" in late


def test_a_case_on_a_company_on_track_is_allowed_and_says_so(ctx, tmp_path, monkeypatch):
    w = World(ctx, tmp_path, monkeypatch)
    territory(w)
    unknown = w.fanny.send("/procedure ouvrir 2026-002 Inconnue")[0].text
    assert "Aucune entreprise « Inconnue » sur le marché 2026-002" in unknown
    assert "Maçonnerie Saint-Genis (lot 1)" in unknown
    opened = w.fanny.send("/procedure ouvrir 2026-002 Saint-Genis")[0].text
    assert "Procédure n° 1 ouverte : Maçonnerie Saint-Genis, marché 2026-002 lot 1" in opened
    assert "l'entreprise est à jour sur cet engagement ; la procédure est ouverte quand même" in opened
    twice = w.fanny.send("/procedure ouvrir 2026-002 Saint-Genis")[0].text
    assert "Une procédure est déjà ouverte pour cet engagement (n° 1" in twice
    assert count_rows(ctx.db, EscalationCase) == 1


def test_qualitative_notes_in_chat_and_cli(ctx, tmp_path, monkeypatch):
    w = World(ctx, tmp_path, monkeypatch)
    territory(w)
    w.at(2025, 9, 30)
    said = w.fanny.send("/note 2025-017 BTP : tutorat Un tuteur désigné pour les deux salariés")
    assert "Note n° 1 enregistrée le 30/09/2025 (tutorat) : BTP Rhône · marché 2025-017" in said[0].text
    assert "Thèmes" in w.fanny.send("/note sans deux-points")[0].text
    bad = w.fanny.send("/note 2025-017 Inconnue : visite Passage sur le chantier")[0].text
    assert "Aucune entreprise(s) « Inconnue » sur le marché 2025-017" in bad
    out = w.cli("note", "add", "--donneur", "Ville d'Oullins", "--theme", "autre",
                "Bonne dynamique des entreprises cette année")
    assert "Note n° 2 enregistrée (autre) : Ville d'Oullins (synthèse)." in out
    out = w.cli("note", "add", "Sans cible", ok=False)
    assert "Dites sur quoi porte la note" in out
    out = w.cli("note", "add", "--marche", "2025-017", "--entreprise", "BTP", "--theme",
                "chant", "x y z", ok=False)
    assert "Thème inconnu « chant »" in out
    listed = w.cli("note", "list", "--donneur", "Ville d'Oullins")
    assert "Un tuteur désigné" in listed and "Bonne dynamique" in listed
    with ctx.db.session() as s:
        notes = s.scalars(select(QualitativeNote).order_by(QualitativeNote.id)).all()
        assert [(n.topic, n.market_id is not None, n.donneur_id is not None) for n in notes] == [
            ("tutorat", True, False), ("autre", False, True)]
        assert notes[0].written_on == dt.date(2025, 9, 30)
    assert count_rows(ctx.db, QualitativeNote) == 2


def test_import_refuses_a_penalty_term_it_cannot_read(ctx, tmp_path, monkeypatch):
    from tests.escalation.world import FANNY, IMPORT

    w = World(ctx, tmp_path, monkeypatch)
    w.cli("facilitateur", "create", "--nom", "Fanny Morel", "--email", FANNY)
    (tmp_path / "bad.csv").write_text(IMPORT.replace(";60;100;20 %;", ";60;cent;12,5 %;"),
                                      encoding="utf-8")
    out = w.cli("import", str(tmp_path / "bad.csv"), ok=False)
    assert "penalite_jour" in out and "penalite_plafond" in out
    assert "un pourcentage entier (ex. 20 %)" in out
    assert count_rows(ctx.db, Lot) == 0  # nothing written


def test_company_answers_by_email_reply_and_the_letter_prints_in_the_child(ctx, tmp_path,
                                                                            monkeypatch):
    from tests.escalation.world import BTP, PILAT, make_mail, pdf_names, text_of, to

    w = World(ctx, tmp_path, monkeypatch)
    territory(w)
    w.fanny.send("/procedure ouvrir 2025-017 BTP")
    w.fanny.send("/procedure 1 relance")
    [relance] = to(w.mail_out(isolated=True), BTP)  # WeasyPrint in the child process
    assert pdf_names(relance) == ["relance-procedure-1.pdf"]
    with ctx.db.session() as s:
        row = s.scalar(select(OutboxMessage).where(OutboxMessage.to_address == BTP))
        assert "déclarées à ce jour : 0 h" in row.body_text  # the rendered letter is kept
    # Another company replying with this case's tag: refused, told why, nothing attached.
    w.mail_in(make_mail(PILAT, f"Re: {relance['Subject']}", "Nous contestons."))
    [refusal] = to(w.mail_out(), PILAT)
    assert "Aucune procédure de relance en cours pour votre entreprise sous le n° 1" in text_of(refusal)
    assert count_rows(ctx.db, EscalationStep, EscalationStep.event == "reponse_entreprise") == 0
    # The company itself: its answer is attached to the case, acknowledged, the facilitator told.
    w.mail_in(make_mail(f"Marc Chef <{BTP}>", f"Re: {relance['Subject']}",
                        "Bonjour,\nUn candidat commence lundi ; plan de recrutement joint.\n"))
    [ack] = to(w.mail_out(), BTP)
    assert "Votre réponse est jointe à la procédure n° 1" in text_of(ack)
    with ctx.db.session() as s:
        step = s.scalar(select(EscalationStep).where(EscalationStep.event == "reponse_entreprise"))
        assert step.channel == "email" and "Un candidat commence lundi" in step.note
        assert f"par {BTP}" in step.note  # a contact, not an account: named on the step
    w.push()
    assert any("réponse de BTP Rhône" in m.text and "esc:closer:1" in m.callbacks
               for m in w.fanny.transcript)
    shown = w.fanny.send("/procedure 1")[0].text
    assert "réponse de l'entreprise par e-mail" in shown


def test_a_refusal_alerts_the_buyer_before_the_deadline(ctx, tmp_path, monkeypatch):
    from tests.escalation.world import BTP, JULIETTE, make_mail, text_of, to

    w = World(ctx, tmp_path, monkeypatch)
    territory(w)
    w.fanny.send("/procedure ouvrir 2025-017 BTP")
    w.fanny.send("/procedure 1 contact telephone Appel au gérant")
    w.fanny.send("/procedure 1 contact email Courriel au gérant du 16/06")
    w.fanny.send("/procedure 1 accord")
    w.push()
    w.juliette.press_data("esc:consent:1")
    [letter] = to(w.mail_out(), BTP)
    w.at(2025, 6, 20)
    early = w.fanny.send("/procedure 1 alerter")[0].text  # before the deadline, no refusal
    assert "Le délai laissé à l'entreprise court jusqu'au 01/07/2025" in early
    w.mail_in(make_mail(BTP, f"Re: {letter['Subject']}", "Nous refusons : le chantier est fini."))
    w.mail_out()
    shown = w.fanny.send("/procedure 1")[0].text
    assert "réponse de l'entreprise par e-mail" in shown and "Nous refusons" in shown
    assert f"Accord du donneur d'ordre : Juliette Rey <{JULIETTE}>, le 16/06/2025 à 10:00." in shown
    alerted = w.fanny.send("/procedure 1 alerter refus")[0].text
    assert "Donneur d'ordre alerté par e-mail, avec le dossier" in alerted
    [alert] = to(w.mail_out(), JULIETTE)
    assert "l'entreprise BTP Rhône a refusé de régulariser la situation" in text_of(alert)
    with ctx.db.session() as s:
        assert s.get(EscalationCase, 1).state == EscalationState.DONNEUR_ALERTE
