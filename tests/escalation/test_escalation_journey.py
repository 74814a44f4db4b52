"""THE escalation journey (issue 15), from an empty database, through the channels only.

The territory comes from the CLI (facilitator, import file with the lot's penalty terms,
invitations); people act in the console chat and by e-mail (Maildir in and out); the clock is
moved by hand and the scheduler's jobs run as the service runs them. Nothing is created by a
factory.

Case 1 (BTP Rhône, lot 1): lateness alert → case opened by its button → a telephone contact and
a written reminder (e-mail with PDF) → consent asked → a non-référent's « accord » refused →
the référent's e-mail reply « accord » → the 15-day letter goes (e-mail with PDF) → deadline
passes → the scheduler alerts → buyer alerted with the file → default recorded → penalty
statement equal to the hand computation below → closed as penalised.
Case 2 (Peintures du Pilat, lot 2): opened by command → the company answers in the chat →
closed as regularised from the facilitator's alert button.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from bs4 import BeautifulSoup
from sqlalchemy import select

from storage.models import (
    Alert,
    AlertKind,
    AuditEntry,
    EscalationCase,
    EscalationState,
    EscalationStep,
    Lot,
)
from tests.escalation.world import (
    BTP,
    FANNY,
    JULIETTE,
    World,
    make_mail,
    pdf_names,
    territory,
    text_of,
    to,
)


def test_escalation_from_lateness_to_penalties_and_a_case_regularised_in_chat(ctx, tmp_path,
                                                                              monkeypatch):
    w = World(ctx, tmp_path, monkeypatch)
    territory(w)  # from the CLI only: facilitator, import file, invitations
    with ctx.db.session() as s:
        lot1 = s.scalar(select(Lot).where(Lot.number == 1))
        assert (lot1.penalty_per_hour, lot1.penalty_per_day_late, lot1.penalty_cap_share) == (
            Decimal(60), Decimal(100), Decimal("0.20"))

    # --- Monday 16 June: the lateness alert, and its button opens the case ----------------
    w.job("lateness")
    w.push()
    alert = next(m for m in w.fanny.transcript if "BTP Rhône est en retard" in m.text)
    assert "⚖️ Ouvrir une procédure de relance" in alert.labels
    assert all(data.startswith(("esc:open:", "alert:done:")) for data in alert.callbacks)
    opened = w.fanny.press_data(next(d for d in alert.callbacks if d.startswith("esc:open:")))
    assert "Procédure n° 1 ouverte : BTP Rhône, marché 2025-017 lot 1" in opened[0].text
    assert "encore 2 contact(s) dont 1 par écrit" in opened[0].text
    again = w.fanny.press_data(next(d for d in alert.callbacks if d.startswith("esc:open:")))
    assert "déjà ouverte pour cet engagement (n° 1" in again[-1].text  # pressed twice

    reply = w.fanny.send("/procedure 1 contact telephone Appel au gérant, plan promis sous 8 jours")
    assert "Contact enregistré (telephone)" in reply[0].text
    assert "par téléphone (Fanny Morel) — Appel au gérant" in reply[0].text

    # --- Tuesday 17 June: the written reminder, e-mailed with its PDF ---------------------
    w.at(2025, 6, 17)
    reply = w.fanny.send("/procedure 1 relance Sans nouvelles du plan promis le 16/06.")
    assert "Relance écrite envoyée par e-mail" in reply[0].text
    sent = w.mail_out()
    [relance] = to(sent, BTP)
    assert relance["Subject"].endswith("[procédure n° 1]")
    assert pdf_names(relance) == ["relance-procedure-1.pdf"]
    assert "déclarées à ce jour : 0 h" in text_of(relance)
    # Two contacts, one written: the facilitator is offered to ask the buyer's consent.
    w.push()
    offer = next(m for m in w.fanny.transcript if "peut partir" in m.text)
    ask = w.fanny.press_data(next(d for d in offer.callbacks if d.startswith("esc:ask:")))
    assert f"projet de courrier envoyé pour accord à Juliette Rey <{JULIETTE}>" in ask[-1].text
    [draft] = to(w.mail_out(), JULIETTE)
    assert draft["Subject"].startswith("Accord demandé : courrier de rappel des obligations")
    assert "répondez à ce message en écrivant « accord »" in text_of(draft)
    assert "au plus tard le 02/07/2025" in text_of(draft)  # the draft's deadline if sent today
    assert pdf_names(draft) == ["projet-courrier-procedure-1.pdf"]
    w.push()
    assert any("Accord demandé (procédure n° 1)" in m.text and "esc:consent:1" in m.callbacks
               for m in w.juliette.transcript)

    # --- Wednesday 18 June: consent by e-mail (a non-référent first: refused) -------------
    w.at(2025, 6, 18, 9)
    w.mail_in(make_mail(f"Fanny Morel <{FANNY}>", f"Re: {draft['Subject']}", "Accord.\n"))
    with ctx.db.session() as s:
        case = s.get(EscalationCase, 1)
        assert case.buyer_consent_at is None and case.letter_sent_on is None
        refused = s.scalar(select(Alert).where(Alert.kind == AlertKind.EMAIL_A_TRAITER,
                                               Alert.subject_type == "escalation"))
        assert f"un accord a été envoyé par {FANNY}, qui n'est pas référent·e" in refused.message
    [refusal] = to(w.mail_out(), FANNY)
    assert "n'est pas référent·e du donneur d'ordre" in text_of(refusal)

    w.mail_in(make_mail(f"Juliette Rey <{JULIETTE}>", f"Re: {draft['Subject']}",
                        "Accord, bien sûr.\n\nJuliette\n\n> projet de courrier...\n"))
    with ctx.db.session() as s:
        case = s.get(EscalationCase, 1)
        assert case.buyer_consent_by == f"Juliette Rey <{JULIETTE}>"
        assert case.buyer_consent_at == dt.datetime(2025, 6, 18, 7, 0, tzinfo=dt.UTC)
        assert case.state == EscalationState.COURRIER_ENVOYE
        assert case.letter_sent_on == dt.date(2025, 6, 18)
        assert case.letter_deadline == dt.date(2025, 7, 3)  # 15 calendar days
    sent = w.mail_out()
    [letter] = to(sent, BTP)
    assert "réponse attendue avant le 03/07/2025" in letter["Subject"]
    assert "dans un délai de 15 jours calendaires, soit au plus tard le 03/07/2025" in text_of(letter)
    assert pdf_names(letter) == ["courrier-rappel-obligations-procedure-1.pdf"]
    copy, ack = sorted(to(sent, JULIETTE), key=lambda m: not m["Subject"].startswith("Copie"))
    assert copy["Subject"].startswith("Copie : Clause sociale d'insertion : rappel")
    assert f"avec votre accord (Juliette Rey <{JULIETTE}>, le 18/06/2025)" in text_of(copy)
    assert "Votre accord est enregistré : le courrier de rappel des obligations part" in text_of(ack)
    w.push()
    assert any(f"accord de Juliette Rey <{JULIETTE}> le 18/06/2025 à 09:00" in m.text
               for m in w.fanny.transcript)
    shown = w.fanny.send("/procedure 1")[0].text
    assert f"Accord du donneur d'ordre : Juliette Rey <{JULIETTE}>, le 18/06/2025 à 09:00." in shown
    assert "jusqu'au 03/07/2025" in shown

    # --- Thursday 3 July (expiry day): nothing; Friday 4 July: the scheduler alerts -------
    w.at(2025, 7, 3, 9)
    w.job("escalation_deadlines")
    w.push()
    assert not any("n'a pas répondu au courrier" in m.text for m in w.fanny.transcript)
    w.at(2025, 7, 4, 9)
    w.job("escalation_deadlines")
    w.push()
    due = next(m for m in w.fanny.transcript if "n'a pas répondu au courrier" in m.text)
    assert "esc:buyer:1" in due.callbacks
    alerted = w.fanny.press_data("esc:buyer:1")
    assert "le donneur d'ordre a été alerté par e-mail, avec le dossier" in alerted[-1].text
    twice = w.fanny.press_data("esc:buyer:1")  # pressed twice: refused, nothing written
    assert "Impossible" in twice[-1].text
    [buyer_alert] = to(w.mail_out(), JULIETTE)
    body = text_of(buyer_alert)
    assert "n'a pas répondu au courrier du 18/06/2025 dans le délai, échu le 03/07/2025" in body
    assert "accord du donneur d'ordre par e-mail" in body and "relance écrite" in body
    assert pdf_names(buyer_alert) == ["dossier-procedure-1.pdf"]

    # --- the default, the penalties, the closing ------------------------------------------
    w.at(2025, 7, 10)
    w.fanny.send("/procedure 1 defaillance Notification de la Ville reçue le 09/07")
    w.at(2025, 7, 15)
    statement = w.fanny.send("/procedure 1 penalites")[0].text
    # By hand: 833 h not done × 60 € = 49 980 €; 15/07 − 03/07 = 12 days × 100 € = 1 200 €;
    # total 51 180 €, under the cap of 20 % × 400 000 € = 80 000 €.
    hand_total = Decimal(833) * 60 + 12 * 100
    assert hand_total == Decimal(51180)
    assert "833 h × 60,00 € HT par heure = 49 980,00 € HT" in statement
    assert "12 jours après l'échéance du courrier × 100,00 € HT par jour = 1 200,00 € HT" in statement
    assert "Plafond : 20 % du montant du lot = 80 000,00 € HT" in statement
    assert "Total sous le plafond, retenu : 51 180,00 € HT" in statement
    [penalties] = to(w.mail_out(), JULIETTE)
    assert "Montant des pénalités : 51 180,00 € HT" in text_of(penalties)
    closed = w.fanny.send("/procedure 1 clore penalise Pénalités appliquées par la Ville")
    assert "Procédure close (pénalisée)" in closed[0].text
    late_letter = w.fanny.send("/procedure 1 relance")  # a letter on a closed case
    assert "La procédure n° 1 est close : la relance écrite n'est plus possible." in late_letter[0].text
    with ctx.db.session() as s:
        case = s.get(EscalationCase, 1)
        assert case.state == EscalationState.CLOS and case.outcome == "penalise"
        assert case.penalty_amount == hand_total
        assert case.formal_notice_on == dt.date(2025, 7, 10)
        events = [st.event for st in s.scalars(select(EscalationStep).where(
            EscalationStep.case_id == 1).order_by(EscalationStep.id))]
        assert events == ["ouverture", "contact", "relance_ecrite", "accord_demande",
                          "accord_donneur", "courrier", "alerte_donneur",
                          "notification_defaillance", "calcul_penalites", "cloture_penalites"]
        assert s.scalar(select(AuditEntry).where(AuditEntry.action == "escalation.consent"))

    # --- case 2: opened by command, answered by the company in the chat, regularised ------
    w.at(2025, 7, 16)
    opened = w.fanny.send("/procedure ouvrir 2025-017 Peintures")[0].text
    assert "Procédure n° 2 ouverte : Peintures du Pilat, marché 2025-017 lot 2" in opened
    answer = w.pilat.send("/reponse Nous recrutons deux personnes via l'ETTI dès lundi")
    assert "votre réponse est jointe à la procédure n° 2" in answer[0].text
    w.push()
    pushed = next(m for m in w.fanny.transcript if "réponse de Peintures du Pilat" in m.text)
    assert "Nous recrutons deux personnes via l'ETTI" in pushed.text
    done = w.fanny.press_data("esc:closer:2")
    assert "Procédure n° 2 close (régularisée)" in done[-1].text
    with ctx.db.session() as s:
        case = s.get(EscalationCase, 2)
        assert case.state == EscalationState.CLOS and case.outcome == "resolu"
        answer_step = s.scalar(select(EscalationStep).where(
            EscalationStep.case_id == 2, EscalationStep.event == "reponse_entreprise"))
        assert answer_step.channel == "console" and "ETTI" in answer_step.note

    # --- the annual bilan's company relationship lists both cases and their steps ----------
    w.at(2026, 1, 20)
    out = tmp_path / "bilans"
    w.cli("bilan", "--donneur", "Ville d'Oullins", "--annee", "2025", "--format", "html",
          "--out", str(out), "--audience", "interne")
    (html,) = out.glob("*.html")
    page = html.read_text(encoding="utf-8")
    text = BeautifulSoup(page, "html.parser").get_text(" ", strip=True)
    relation = text[text.index("Relation avec les entreprises : réunions et démarches"):]
    for step in ("Ouverture de la procédure", "Relance écrite (courriel, courrier)",
                 "Accord du donneur d'ordre demandé", "Envoi du courrier de rappel des obligations",
                 "Alerte du donneur d'ordre", "Réponse de l'entreprise"):
        assert step in relation, step
    assert "BTP Rhône" in relation and "Peintures du Pilat" in relation
