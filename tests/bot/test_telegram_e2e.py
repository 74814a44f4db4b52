"""End to end over HTTP: the bot (PTB Application, real HTTPXRequest, getUpdates polling) runs
against the local Bot API server; tests play users and check the replies and the database."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select

from bot import texts
from clauses.invitations import REFUSED
from storage.models import (
    Candidature,
    CandidatureStatus,
    ChatLink,
    ChatUpdate,
    ConversationState,
    DeclarationRevision,
    Document,
    HourDeclaration,
    Invitation,
    OutboxMessage,
    OutboxStatus,
    Role,
    User,
)
from tests.bot.conftest import PDF, PNG, link_user
from tests.queries import count_rows


def _declarations(ctx, contract_id: int) -> list[HourDeclaration]:
    with ctx.db.session() as s:
        return list(s.scalars(select(HourDeclaration).where(HourDeclaration.contract_id == contract_id)))


# --- onboarding ---------------------------------------------------------------------------------


async def test_onboarding_deep_link_links_account_to_company(ctx, world, tg, invite):
    code = invite(Role.ENTREPRISE, company_id=world["company"], display_name="Chef de chantier")
    user = tg.api.user(first_name="Léa")

    replies = await tg.text(user, f"/start {code}")

    assert "Bienvenue, Chef de chantier" in replies[0].text
    assert "BTP Rhône" in replies[0].text and "/declarer" in replies[0].text
    with ctx.db.session() as s:
        linked = s.scalar(select(User).where(User.telegram_user_id == user.id))
        assert linked is not None and linked.role == Role.ENTREPRISE
        assert linked.company_id == world["company"]
        assert s.scalar(select(ChatLink.chat_id).where(ChatLink.user_id == linked.id)) == user.id
        assert s.scalar(select(Invitation.used_by_user_id)) == linked.id
    # Linked now: commands work.
    replies = await tg.text(user, "/declarer")
    assert "Pour quelle personne" in replies[0].text


async def test_expired_and_reused_codes_are_refused(ctx, world, tg, invite, clock):
    expired = invite(Role.ENTREPRISE, company_id=world["company"], valid_days=1)
    reused = invite(Role.ENTREPRISE, company_id=world["company"])
    first, second = tg.api.user(first_name="A"), tg.api.user(first_name="B")
    clock.advance(days=2)

    # One neutral refusal for every cause (issue 18): a leaked code is not confirmed real.
    replies = await tg.text(first, expired)  # typed without /start
    assert replies[0].text == REFUSED and "nouvelle invitation" in replies[0].text

    assert "Bienvenue" in (await tg.text(first, f"/start {reused}"))[0].text
    replies = await tg.text(second, f"/start {reused}")
    assert replies[0].text == REFUSED
    replies = await tg.text(second, "/start ABCD-EFGH-JKMN")  # unknown
    assert replies[0].text == REFUSED
    with ctx.db.session() as s:
        assert s.scalar(select(User).where(User.telegram_user_id == second.id)) is None
        assert s.scalar(select(User.id).where(User.telegram_user_id == first.id)) is not None


async def test_stranger_learns_nothing_but_how_to_get_an_invitation(ctx, world, tg):
    stranger = tg.api.user(first_name="Inconnu")
    for text in ("/declarer", "Dupont Marie 35h mai lot 2", "/entreprise BTP Rhône", "bonjour"):
        replies = await tg.text(stranger, text)
        assert [r.text for r in replies] == [texts.STRANGER]
    replies = await tg.text(stranger, "/start ABCD-EFGH-JKMN")
    assert "n'est pas valide" in replies[0].text
    all_text = " ".join(m.text or "" for m in tg.api.sent_messages(stranger))
    for secret in ("BTP", "Dupont", "DUPONT", "2025-017", "Oullins"):
        assert secret not in all_text
    assert count_rows(ctx.db, HourDeclaration) == 0


# --- declarations -------------------------------------------------------------------------------


async def test_guided_declaration_with_pdf_proof(ctx, world, tg):
    boss = tg.api.user(first_name="Chef")
    link_user(ctx, world["company_user"], boss.id)

    replies = await tg.text(boss, "/declarer")
    assert replies[-1].button_texts() == ["DUPONT Marie", "DUPONT Luc", "MARTIN Paul", "❌ Annuler"]
    replies = await tg.press(boss, text="MARTIN Paul")
    assert "Pour quel mois" in replies[-1].text
    assert replies[-1].button_texts()[0] == "Mai 2025 (par défaut)"
    replies = await tg.press(boss, text="Mai 2025")
    assert "heures de travail" in replies[-1].text
    replies = await tg.text(boss, "35h30")
    assert "heures de formation" in replies[-1].text
    replies = await tg.text(boss, "7")
    assert "Justificatif" in replies[-1].text
    replies = await tg.document(boss, PDF, "../../etc/bulletin mai.pdf", "application/pdf")
    assert replies[0].text == "Justificatif reçu."
    summary = replies[-1]
    assert "MARTIN Paul" in summary.text and "mai 2025" in summary.text
    assert "35,5 h" in summary.text and "7 h" in summary.text and "joint" in summary.text
    replies = await tg.press(boss, summary, text="Confirmer")

    assert replies[-1].text.startswith("✅ Déclaration enregistrée : mai 2025")
    (decl,) = _declarations(ctx, world["contract_marie"] + 1)  # Paul's contract
    assert decl.work_hours == Decimal("35.50") and decl.training_hours == Decimal("7.00")
    assert decl.month == dt.date(2025, 5, 1) and decl.revision == 1
    with ctx.db.session() as s:
        doc = s.get(Document, decl.proof_document_id)
        assert doc.kind == "proof" and doc.mime_type == "application/pdf"
        assert doc.display_name == "bulletin mai.pdf"  # the path part is dropped
        assert ctx.documents.path_for(doc.sha256).read_bytes() == PDF
        assert s.scalar(select(func.count()).select_from(ConversationState)) == 0
    assert tg.api.sent_messages(boss)[-2].buttons == []  # the confirmed summary lost its buttons


async def test_declaration_error_says_what_to_fix(ctx, world, tg):
    """A month after the lot's end is refused with the date at the month step (before any
    hours are typed for it), and the month is asked again."""
    from storage.models import Lot

    with ctx.db.session() as s:
        s.get(Lot, world["lot"]).end_date = dt.date(2025, 3, 31)
    boss = tg.linked(world["company_user"])
    await tg.text(boss, "/declarer")
    await tg.press(boss, text="DUPONT Marie")
    replies = await tg.press(boss, text="Avril 2025")
    assert "31/03/2025" in replies[0].text
    assert "Pour quel mois" in replies[-1].text
    replies = await tg.text(boss, "03/2025")
    assert "heures de travail" in replies[-1].text
    await tg.text(boss, "35")
    replies = await tg.text(boss, "0")
    assert "Justificatif" in replies[-1].text
    await tg.press(boss, text="Passer")
    replies = await tg.press(boss, text="Confirmer")
    assert "enregistrée : mars 2025" in replies[-1].text
    assert [d.month for d in _declarations(ctx, world["contract_marie"])] == [dt.date(2025, 3, 1)]


async def test_free_text_shortcut_and_asking_when_ambiguous(ctx, world, tg, boss):

    replies = await tg.text(boss, "Dupont Marie 35h mai lot 2")
    assert "Récapitulatif" in replies[-1].text and "DUPONT Marie" in replies[-1].text
    await tg.press(boss, text="Confirmer")
    (decl,) = _declarations(ctx, world["contract_marie"])
    assert decl.work_hours == Decimal(35) and decl.month == dt.date(2025, 5, 1)

    # "Dupont" alone fits Marie and Luc: the bot asks which one.
    replies = await tg.text(boss, "dupont 20h avril")
    assert "Plusieurs contrats" in replies[0].text
    assert set(replies[-1].button_texts()) == {"DUPONT Marie", "DUPONT Luc", "❌ Annuler"}
    replies = await tg.press(boss, text="DUPONT Luc")
    assert "DUPONT Luc" in replies[-1].text and "avril 2025" in replies[-1].text
    await tg.press(boss, text="Confirmer")
    luc_contract = world["contract_marie"] + 2
    assert [d.work_hours for d in _declarations(ctx, luc_contract)] == [Decimal(20)]


async def test_correction_is_a_new_revision(ctx, world, tg, boss):
    await tg.text(boss, "Dupont Marie 35h mai lot 2")
    await tg.press(boss, text="Confirmer")

    replies = await tg.text(boss, "/mes_declarations")
    assert "DUPONT Marie — mai 2025" in replies[0].text
    replies = await tg.press(boss, replies[0], text="Corriger n° 1")
    assert "actuellement 35 h de travail" in replies[0].text
    await tg.text(boss, "30")
    await tg.text(boss, "0")
    replies = await tg.text(boss, "erreur de saisie")
    assert "35 h → 30 h" in replies[-1].text
    replies = await tg.press(boss, replies[-1], text="Confirmer")
    assert "révision 2" in replies[-1].text

    (decl,) = _declarations(ctx, world["contract_marie"])
    assert decl.work_hours == Decimal(30) and decl.revision == 2
    with ctx.db.session() as s:
        revisions = list(s.scalars(select(DeclarationRevision).order_by(DeclarationRevision.revision)))
    assert [(r.revision, r.work_hours, r.reason) for r in revisions] == [
        (1, Decimal(35), None), (2, Decimal(30), "erreur de saisie")]


# --- candidatures -------------------------------------------------------------------------------


async def test_candidature_with_cv_validated_by_facilitator_button(ctx, world, tg):
    boss, fanny = tg.api.user(first_name="Chef"), tg.api.user(first_name="Fanny")
    link_user(ctx, world["company_user"], boss.id)
    link_user(ctx, world["facilitator"], fanny.id)

    await tg.text(boss, "/candidat")
    await tg.text(boss, "Nguyen")
    await tg.text(boss, "Thi Hoa")
    replies = await tg.text(boss, "06 12 34 56 78")
    criteria = replies[-1]
    assert "RSA" in criteria.button_texts()
    await tg.press(boss, criteria, text="RSA")  # the keyboard is edited in place
    assert "✅ RSA" in tg.api.sent_messages(boss)[-1].button_texts()
    replies = await tg.press(boss, text="Terminé")
    assert "CV" in replies[-1].text
    replies = await tg.document(boss, PDF, "cv_nguyen.pdf")
    assert "Candidat : NGUYEN Thi Hoa" in replies[-1].text and "CV : joint" in replies[-1].text
    replies = await tg.press(boss, replies[-1], text="Confirmer")
    assert "transmise" in replies[-1].text

    with ctx.db.session() as s:
        cand = s.scalar(select(Candidature))
        assert cand.company_id == world["company"] and cand.criteria_claimed == ["rsa"]
        assert s.get(Document, cand.cv_document_id).kind == "cv"
        cand_id = cand.id
    # The facilitator's alert arrives through the outbox, with its buttons.
    (alert,) = await tg.api.wait_for_messages_async(fanny, 1)
    assert f"Candidature n° {cand_id} à valider" in alert.text
    assert alert.callback_data()[:2] == [f"cand:ok:{cand_id}", f"cand:no:{cand_id}"]
    before = len(tg.api.sent_messages(boss))  # counted before the notice can be on its way
    replies = await tg.press(fanny, alert, text="Valider")
    assert replies[-1].text.startswith(f"✅ Candidature n° {cand_id} validée. "
                                       "L'entreprise qui l'a proposée en est informée.\n")
    assert tg.api.sent_messages(fanny)[0].buttons == []  # pressed once, gone
    with ctx.db.session() as s:
        from storage.models import Alert

        assert s.get(Candidature, cand_id).status == CandidatureStatus.VALIDEE
        assert s.scalar(select(Alert.handled_by_id)) == world["facilitator"]
    # ...and the company is told.
    told = await tg.api.wait_for_messages_async(boss, before + 1)
    assert told[-1].text.startswith("Le candidat que vous avez proposé, NGUYEN T.")
    assert f"candidature n° {cand_id}" in told[-1].text and "est validé" in told[-1].text


async def test_facilitator_refuses_with_reason(ctx, world, tg):
    boss, fanny = tg.api.user(), tg.api.user()
    link_user(ctx, world["company_user"], boss.id)
    link_user(ctx, world["facilitator"], fanny.id)
    for text in ("/candidat", "Petit", "Jean"):
        await tg.text(boss, text)
    await tg.press(boss, text="Passer")
    await tg.press(boss, text="Terminé")
    await tg.press(boss, text="Passer")
    await tg.press(boss, text="Confirmer")
    (alert,) = await tg.api.wait_for_messages_async(fanny, 1)
    replies = await tg.press(fanny, alert, text="Refuser")
    assert "Motif du refus" in replies[-1].text
    replies = await tg.text(fanny, "Aucun critère d'éligibilité justifié")
    assert "refusée" in replies[-1].text
    with ctx.db.session() as s:
        cand = s.scalar(select(Candidature))
        assert cand.status == CandidatureStatus.REFUSEE
        assert cand.refusal_reason == "Aucun critère d'éligibilité justifié"


# --- scoping ------------------------------------------------------------------------------------


async def test_company_cannot_reach_another_company_data(ctx, world, tg):
    boss, other = tg.api.user(), tg.api.user()
    link_user(ctx, world["company_user"], boss.id)
    link_user(ctx, world["other_user"], other.id)
    await tg.text(other, "Durand Carla 35h mai lot 3")
    await tg.press(other, text="Confirmer")
    (theirs,) = _declarations(ctx, world["other_contract"])

    # Their participant is invisible to the shortcut...
    replies = await tg.text(boss, "Durand Carla 35h mai lot 3")
    assert "aucun contrat" in replies[0].text
    # ...a tampered "Corriger" button carrying their declaration id is refused...
    replies = await tg.tampered_press(boss, f"mc:{theirs.id}")
    assert replies[-1].text == "Accès refusé ou élément introuvable."
    # ...and so is a tampered contract button in the middle of a guided declaration...
    await tg.text(boss, "/declarer")
    replies = await tg.tampered_press(boss, f"d:ct:{world['other_contract']}")
    assert replies[-1].text == "Accès refusé ou élément introuvable."
    # ...a facilitator's button...
    replies = await tg.tampered_press(boss, "cand:ok:1")
    assert replies[-1].text == "Accès refusé ou élément introuvable."
    # ...and staff commands.
    replies = await tg.text(boss, "/entreprise Peintures")
    assert "n'est pas disponible pour votre profil" in replies[-1].text
    assert _declarations(ctx, world["other_contract"])[0].revision == 1
    assert count_rows(ctx.db, HourDeclaration) == 1


# --- nothing twice, nothing lost --------------------------------------------------------------


async def test_replayed_update_and_double_tap_record_one_declaration(ctx, world, tg, boss):
    await tg.text(boss, "Dupont Marie 35h mai lot 2")
    summary = tg.last_with_buttons(boss)
    # Two taps land before the bot answered the first (the button is still there for both).
    first = tg.api.press_button(boss, summary, text="Confirmer")
    second = tg.api.press_button(boss, summary, text="Confirmer")
    await tg.api.wait_until_confirmed_async(second, timeout=15)
    assert tg.api.callback_answer(second)["text"] == "Cette déclaration est déjà enregistrée."
    # Telegram delivers the first tap again (lost confirmation): dropped, nothing sent.
    sent = len(tg.api.sent_messages(boss))
    tg.api.replay(first)
    await tg.api.wait_until_confirmed_async(first, timeout=15)
    text_update = tg.api.send_text(boss, "/aide")
    await tg.api.wait_until_confirmed_async(text_update, timeout=15)
    assert len(tg.api.sent_messages(boss)) == sent + 1  # only the /aide answer

    assert len(_declarations(ctx, world["contract_marie"])) == 1
    assert count_rows(ctx.db, DeclarationRevision) == 1
    assert count_rows(ctx.db, ChatUpdate, ChatUpdate.update_id == first) == 1


async def test_conversation_survives_a_restart(ctx, world, tg, boss):
    await tg.text(boss, "/declarer")
    await tg.press(boss, text="DUPONT Marie")
    await tg.press(boss, text="Mai 2025")

    await tg.stop()
    with ctx.db.session() as s:
        state = s.scalar(select(ConversationState))
        assert state.state == "declarer:work" and state.user_id == boss.id
    await tg.start()

    replies = await tg.text(boss, "/aide")  # help in the middle says where we are
    assert replies[0].text.startswith("En cours : déclaration d'heures. Écrivez le nombre")
    replies = await tg.text(boss, "42")
    assert "heures de formation" in replies[-1].text
    await tg.text(boss, "0")
    replies = await tg.photo(boss, PNG)  # a photo of the payslip
    assert replies[0].text == "Justificatif reçu."
    await tg.press(boss, text="Confirmer")
    (decl,) = _declarations(ctx, world["contract_marie"])
    assert decl.work_hours == Decimal(42) and decl.month == dt.date(2025, 5, 1)
    with ctx.db.session() as s:
        assert s.get(Document, decl.proof_document_id).mime_type == "image/png"

    replies = await tg.text(boss, "/avancement")
    assert replies[0].text.splitlines()[:6] == [
        "Avancement au 16/06/2025", "", "Marché 2025-017 — Lot 2", "▓░░░░░░░░░ 5 %",
        "Réalisées : 42 h sur 833 h dues", "Attendues à cette date : 379,88 h"]
    assert "Statut : 🔴 en retard" in replies[0].text


# --- hostile input ------------------------------------------------------------------------------


async def test_hostile_input_is_answered_cleanly(ctx, world, tg, boss):

    replies = await tg.text(boss, "A" * 5000)
    assert "trop long (5 000 caractères ; 1 000 au maximum)" in replies[0].text
    replies = await tg.text(boss, "'; DROP TABLE hour_declarations; --")
    assert replies[0].text == texts.NOT_UNDERSTOOD_COMPANY
    replies = await tg.text(boss, "Robert'); DELETE FROM users;-- 35h mai")
    assert "Je ne comprends pas « -- »" in replies[0].text  # refused with the reason
    assert "Rien n'a été enregistré" in replies[0].text
    # Control and bidi characters are dropped before parsing.
    replies = await tg.text(boss, "Dupont\x00 Marie\u202e 35h\x1b mai lot 2")
    assert "DUPONT Marie" in replies[-1].text and "35 h" in replies[-1].text
    await tg.text(boss, "/annuler")
    # A candidate name that is not a name.
    await tg.text(boss, "/candidat")
    replies = await tg.text(boss, "x'); DROP TABLE participants;--")
    assert "ne doit contenir que des lettres" in replies[0].text
    await tg.text(boss, "/annuler")
    # Files: an unsolicited one, a disguised executable, one over the size limit.
    replies = await tg.document(boss, PDF, "bulletin.pdf")
    assert replies[0].text == texts.UNEXPECTED_FILE
    await tg.text(boss, "Dupont Marie 35h mai lot 2")
    await tg.text(boss, "/annuler")
    await tg.text(boss, "/declarer")
    await tg.press(boss, text="DUPONT Marie")
    await tg.press(boss, text="Mai 2025")
    await tg.text(boss, "35")
    await tg.text(boss, "0")
    replies = await tg.document(boss, b"MZ\x90\x00" + b"\x00" * 200, "bulletin.pdf", "application/pdf")
    assert "Type de fichier non accepté" in replies[0].text
    big = b"%PDF-1.4\n" + b"0" * (ctx.documents.max_bytes + 10)
    replies = await tg.document(boss, big, "gros.pdf")
    assert "Fichier trop volumineux" in replies[0].text
    assert len(tg.api.calls("getFile")) == 1  # the disguised file; the big one never downloaded
    assert count_rows(ctx.db, Document) == 0
    with ctx.db.session() as s:
        assert s.scalar(select(ConversationState.state)) == "declarer:proof"  # still waiting
        assert s.scalar(select(func.count()).select_from(User)) >= 4  # tables intact


# --- facilitators and référents --------------------------------------------------------------


async def test_facilitator_commands_and_alert_button(ctx, world, tg):
    from clauses.alerts import raise_alert
    from storage.models import Alert, AlertKind

    fanny = tg.linked(world["facilitator"])
    with ctx.db.session() as s:
        alert, _ = raise_alert(s, kind=AlertKind.AUTRE, message="Appeler BTP Rhône",
                               facilitator_id=world["facilitator"], dedup_key="t:1")
        alert_id = alert.id
    (pushed,) = await tg.api.wait_for_messages_async(fanny, 1)
    assert "Appeler BTP Rhône" in pushed.text

    replies = await tg.text(fanny, "/alertes")
    assert f"n° {alert_id}" in replies[0].text
    replies = await tg.press(fanny, pushed, data=f"alert:done:{alert_id}")
    with ctx.db.session() as s:
        assert s.get(Alert, alert_id).handled_by_id == world["facilitator"]
    assert "Aucune alerte" in (await tg.text(fanny, "/alertes"))[0].text

    replies = await tg.text(fanny, "/marches")
    assert "2025-017" in replies[0].text and "BTP Rhône" in replies[0].text
    replies = await tg.text(fanny, "/entreprise btp")
    assert "BTP Rhône — SIRET" in replies[0].text and "Candidatures à valider : 0" in replies[0].text
    from clauses.siret import format_siret
    from storage.models import Company

    with ctx.db.session() as s:
        siret = s.get(Company, world["other_company"]).siret
    replies = await tg.text(fanny, f"/entreprise {format_siret(siret)}")
    assert replies[0].text.startswith("🏢 Peintures Lyonnaises")
    replies = await tg.text(fanny, "/entreprise 732 829 320 00075")
    assert "SIRET invalide" in replies[0].text
    replies = await tg.text(fanny, "/entreprise 100%_")
    assert "Aucune entreprise" in replies[0].text


async def test_referent_sees_only_own_donneur(ctx, world, tg):
    from tests import factories as f

    with ctx.db.session() as s:
        other = f.donneur(s, "Métropole voisine")
        f.market(s, other, reference="2025-900")
    juliette = tg.linked(world["referent_user"])

    replies = await tg.text(juliette, "/point 2025-900")
    assert replies[0].text == "Aucun marché « 2025-900 » parmi ceux que vous suivez."
    replies = await tg.text(juliette, "/point 2025-017")
    assert replies[0].text.startswith("Point d'étape au 16/06/2025 — marché 2025-017")
    assert replies[0].buttons == []  # e-mailing is the facilitator's
    replies = await tg.text(juliette, "/bilan 2025")
    assert replies[0].text.startswith("Bilan annuel 2025 — Ville d'Oullins\n")
    assert replies[0].text.count("Bilan annuel 2025") == 1  # the title is printed once
    replies = await tg.text(juliette, "/declarer")
    assert "n'est pas disponible pour votre profil" in replies[0].text


async def test_point_emailed_to_referent_once(ctx, world, tg):
    from reports.queued import render_request

    fanny = tg.linked(world["facilitator"])
    replies = await tg.text(fanny, "/point 2025-017")
    assert replies[0].button_texts() == ["📧 Envoyer au référent"]
    replies = await tg.press(fanny, replies[0], text="Envoyer")
    assert "Juliette REY" in replies[-1].text
    with ctx.db.session() as s:
        mail = s.scalar(select(OutboxMessage).where(OutboxMessage.to_address == "juliette.rey@oullins.test"))
        assert mail.status == OutboxStatus.PENDING and "2025-017" in mail.subject
        # queued for the e-mail sender to render: the chat turn drew no chart
        assert render_request(mail.attachments) is not None
    replies = await tg.text(fanny, "/point 2025-017")
    replies = await tg.press(fanny, replies[0], text="Envoyer")
    assert "déjà été envoyé aujourd'hui" in replies[-1].text


async def test_escalation_letter_approved_from_the_alert_button(ctx, world, tg):
    from clauses.actors import Actor
    from clauses.escalation_service import open_case, transition
    from storage.models import Channel, EscalationCase, EscalationState

    fanny = tg.linked(world["facilitator"])
    with ctx.db.session() as s:
        actor = Actor.from_user(s.get(User, world["facilitator"]), Channel.CLI)
        case = open_case(ctx, s, actor, world["engagement"])
        transition(ctx, s, actor, case.id, "contact", note="appel au chef de chantier")
        transition(ctx, s, actor, case.id, "relance_ecrite", note="courriel")
        case_id = case.id
    pushed = await tg.api.wait_for_messages_async(fanny, 1)
    # The offer asks the buyer's consent (bot.flows.escalation encodes the typed action).
    offer = next(m for m in pushed if f"esc:ask:{case_id}" in m.callback_data())
    assert f"Procédure n° {case_id} — BTP Rhône" in offer.text

    replies = await tg.text(fanny, "/relances")
    assert f"n° {case_id} · BTP Rhône · marché 2025-017 lot 2" in replies[0].text
    assert replies[0].button_texts() == [f"📂 n° {case_id}"]
    # The facilitator may still attest the buyer's consent herself (given by telephone).
    replies = await tg.tampered_press(fanny, f"esc:letter:{case_id}")
    assert "courrier de rappel des obligations envoyé" in replies[-1].text
    assert "échéance le 01/07/2025" in replies[-1].text
    with ctx.db.session() as s:
        row = s.get(EscalationCase, case_id)
        assert row.state == EscalationState.COURRIER_ENVOYE and row.buyer_consent_at is not None
        letters = s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.to_address == "chef@btp-rhone.test"))
        assert letters == 1
    replies = await tg.text(fanny, "/relances")
    assert "échéance du courrier : 01/07/2025" in replies[0].text
    assert replies[0].button_texts() == [f"📂 n° {case_id}"]

    # The deadline passes without an answer: the daily job alerts the facilitator with a
    # button, and pressing it alerts the buyer.
    from scheduler.jobs import run_job

    ctx.clock.advance(days=22)  # Tuesday 08/07/2025: a business day after the deadline
    sent_before = len(tg.api.sent_messages(fanny))
    result = await asyncio.get_running_loop().run_in_executor(
        None, run_job, ctx, "escalation_deadlines")
    assert not result.errors
    pushed = await tg.api.wait_for_messages_async(fanny, sent_before + 1)
    alert = next(m for m in pushed if f"esc:buyer:{case_id}" in m.callback_data())
    replies = await tg.press(fanny, alert, data=f"esc:buyer:{case_id}")
    assert f"Procédure n° {case_id} : le donneur d'ordre a été alerté" in replies[-1].text
    with ctx.db.session() as s:
        assert s.get(EscalationCase, case_id).state == EscalationState.DONNEUR_ALERTE
        to_buyer = s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.to_address == "juliette.rey@oullins.test"))
        assert to_buyer >= 1


async def test_annual_bilan_approved_from_the_alert_button(ctx, world, tg):
    from clauses.reminders import approve_annual_bilan  # noqa: F401 - the button's use case

    fanny = tg.linked(world["facilitator"])
    with ctx.db.session() as s:
        donneur_id = s.get(User, world["referent_user"]).donneur_id
    data = f"bilan:ok:{donneur_id}:2025"
    await tg.text(fanny, "/aide")
    replies = await tg.tampered_press(fanny, data)
    assert "Bilan annuel 2025 approuvé" in replies[-1].text
    replies = await tg.tampered_press(fanny, data)
    assert "déjà approuvé" in replies[-1].text
    boss = tg.linked(world["company_user"])
    await tg.text(boss, "/aide")
    replies = await tg.tampered_press(boss, data)
    assert "approuvé" not in replies[-1].text
