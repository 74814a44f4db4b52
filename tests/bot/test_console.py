"""The console backend: same core, driven in-process and through the terminal loop."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
from decimal import Decimal

from sqlalchemy import func, select

from bot import texts
from bot.console import ConsoleChat, ConsoleTransport, run_console
from bot.core import COMMANDS, ChatCore
from bot.messages import Incoming
from bot.outbox_sender import ChatOutboxSender
from bot.service import ChatService
from bot.turn import Command
from clauses.clock import PARIS
from clauses.invitations import revoke_invitation
from storage.models import (
    Alert,
    Candidature,
    CandidatureStatus,
    Channel,
    ChatUpdate,
    HourDeclaration,
    Invitation,
    OutboxMessage,
    Role,
    User,
)
from tests.bot.conftest import PDF, link_user


def _declarations(ctx) -> list[HourDeclaration]:
    with ctx.db.session() as s:
        return list(s.scalars(select(HourDeclaration).order_by(HourDeclaration.id)))


def test_console_onboarding_and_guided_declaration_by_numbers(ctx, world, core, invite, tmp_path):
    revoked = invite(Role.ENTREPRISE, company_id=world["company"])
    with ctx.db.session() as s:
        revoke_invitation(s, ctx.clock, s.scalar(select(Invitation.id)))
    code = invite(Role.ENTREPRISE, company_id=world["company"], display_name="Chef")
    chat = ConsoleChat(core, account=1)

    assert chat.send("/declarer")[0].text == texts.STRANGER
    assert "n'est pas valide" in chat.send(f"/start {revoked}")[0].text
    assert "Bienvenue, Chef" in chat.send(code)[0].text

    persons = chat.send("/declarer")[-1]
    assert persons.render().splitlines()[1:] == [
        "  [1] DUPONT Marie   [2] DUPONT Luc", "  [3] MARTIN Paul", "  [4] ❌ Annuler"]
    months = chat.type("3")[-1]
    assert "[1] Mai 2025 (par défaut)" in months.render()
    chat.type("1")
    assert "heures de formation" in chat.type("2")[-1].text  # "2" is an answer, not a press
    assert "Justificatif" in chat.type("0")[-1].text
    proof = tmp_path / "bulletin.pdf"
    proof.write_bytes(PDF)
    replies = chat.type(f"!fichier {proof}")
    assert replies[0].text == "Justificatif reçu." and "[1] ✅ Confirmer" in replies[-1].render()
    assert "Déclaration enregistrée : mai 2025" in chat.type("1")[-1].text
    (decl,) = _declarations(ctx)
    assert decl.work_hours == Decimal(2) and decl.proof_document_id is not None
    assert decl.source == Channel.CONSOLE
    assert chat.type("1")[0].text == texts.NOT_UNDERSTOOD_COMPANY  # no buttons left to press


def test_console_shortcut_correction_and_cancel(ctx, world, core):
    link_user(ctx, world["company_user"], -1)
    chat = ConsoleChat(core, account=1)
    assert "Récapitulatif" in chat.send("Dupont Marie 35h mai lot 2")[-1].text
    chat.press("Confirmer")
    listing = chat.send("/mes_declarations")[-1]
    assert "[1] ✏️ Corriger n° 1" in listing.render()
    chat.press(1)
    chat.send("30,5")
    assert chat.send("/annuler")[-1].text == texts.CANCELLED
    assert _declarations(ctx)[0].work_hours == Decimal(35)
    assert chat.send("/annuler")[-1].text == texts.NOTHING_TO_CANCEL


def test_alert_reaches_console_facilitator_who_validates_by_number(ctx, world, core):
    link_user(ctx, world["company_user"], -1)
    link_user(ctx, world["facilitator"], -2)
    transport = ConsoleTransport(core)
    company, fanny = transport.chat(1), transport.chat(2)
    sender = ChatOutboxSender(ctx.db, transport, chat_filter=OutboxMessage.to_chat_id < 0)
    for line in ("/candidat", "Nguyen", "Hoa", "hoa.nguyen@exemple.fr"):
        company.send(line)
    company.press("RSA")
    company.press("Terminé")
    assert "CV" in company.send_file(PDF, "cv.pdf")[0].text
    company.press("Confirmer")

    assert asyncio.run(sender.drain()).sent == 1
    alert = fanny.last
    assert "Candidature n° 1 à valider : NGUYEN Hoa pour BTP Rhône" in alert.text
    # The decision handles the alert: no « Traitée » beside « Valider » (issue 18).
    assert alert.render().splitlines()[-2:] == ["  [1] ✅ Valider   [2] ❌ Refuser",
                                                "  [3] 📄 Voir le CV"]
    listing = fanny.send("/alertes")[-1]  # the same actions from the list of alerts
    assert listing.render().splitlines()[-1] == "  [1] ✅ Valider n° 1   [2] ❌ Refuser"
    with ctx.db.session() as s:  # stored in UTC, shown in Paris time (issue 18)
        created = s.scalar(select(Alert.created_at)).replace(tzinfo=dt.UTC)
    assert f"({created.astimezone(PARIS):%d/%m/%Y à %H:%M})" in listing.text
    assert "validée" in fanny.type("1")[-1].text
    assert "Aucune alerte" in fanny.send("/alertes")[-1].text  # the decision answered it
    with ctx.db.session() as s:
        assert s.scalar(select(Candidature.status)) == CandidatureStatus.VALIDEE
    asyncio.run(sender.drain())
    # A decision on the company's candidate, not on an application of the company's own.
    assert company.last.text.startswith("Le candidat que vous avez proposé, NGUYEN H.")
    assert "est validé" in company.last.text  # the decision carries initials only


def test_tampered_buttons_and_group_chats_are_refused(ctx, world, core):
    link_user(ctx, world["company_user"], -1)
    chat = ConsoleChat(core, account=1)
    assert chat.press_data("alert:done:1")[-1].text == "Accès refusé ou élément introuvable."
    assert chat.press_data("mc:999")[-1].text == "Accès refusé ou élément introuvable."
    assert chat.press_data("d:lot:1")[-1].text == f"ℹ️ {texts.STALE_BUTTON}"
    assert chat.press_data("'; DROP TABLE users; --")[-1].text == f"ℹ️ {texts.BAD_BUTTON}"
    group = core.handle(Incoming(Channel.CONSOLE, chat_id=-500, user_id=-1, text="/aide",
                                 private=False))
    assert group.texts == [texts.PRIVATE_ONLY]


def test_replayed_update_is_dropped_and_internal_errors_are_answered(ctx, world, core, monkeypatch):
    link_user(ctx, world["company_user"], 555)
    declare = Incoming(Channel.TELEGRAM, 555, 555, update_id=10, text="Dupont Marie 35h mai lot 2")
    assert "Récapitulatif" in core.handle(declare).texts[-1]
    assert core.handle(declare).duplicate

    def broken(turn, args):
        raise RuntimeError("bug")

    monkeypatch.setitem(COMMANDS, "aide", Command("aide", broken, frozenset(Role), "Aide"))
    crash = Incoming(Channel.TELEGRAM, 555, 555, update_id=11, text="/aide")
    assert core.handle(crash).texts == [texts.INTERNAL_ERROR]
    assert core.handle(crash).duplicate  # a poison update is not retried forever
    with ctx.db.session() as s:
        assert s.scalar(select(func.count()).select_from(ChatUpdate)) == 2
    # The conversation in progress is untouched by the failure.
    confirm = core.handle(Incoming(Channel.TELEGRAM, 555, 555, update_id=12, callback_data="x:cancel"))
    assert confirm.texts == [texts.CANCELLED]


def test_stale_conversation_expires_and_unlinking_locks_out(ctx, world, core, clock):
    link_user(ctx, world["company_user"], -1)
    chat = ConsoleChat(core, account=1)
    chat.send("/declarer")
    clock.advance(days=8)
    replies = chat.send("35")
    assert replies[0].text == texts.EXPIRED
    chat.send("/deconnexion")
    assert chat.press("Oui")[-1].text == "Le lien est retiré. Au revoir !"
    assert chat.send("/aide")[-1].text == texts.STRANGER
    with ctx.db.session() as s:
        user = s.get(User, world["company_user"])
        assert user.telegram_user_id is None and not user.active


def test_terminal_loop_reads_lines_and_prints_numbered_buttons(ctx, world, invite):
    code = invite(Role.FACILITATEUR, display_name="Fanny")
    stdin = io.StringIO(f"/start {code}\n!compte 2\n/aide\n!compte 1\n/alertes\n!quitter\n/aide\n")
    out = io.StringIO()
    core = ChatCore(ctx)
    transport = ConsoleTransport(core, out)

    asyncio.run(asyncio.wait_for(run_console(core, transport, asyncio.Event(), stdin=stdin, out=out), 10))

    printed = out.getvalue()
    assert "Bienvenue, Fanny" in printed
    assert "(vous êtes maintenant le compte console 2)" in printed
    assert printed.count(texts.STRANGER) == 1  # account 2 is not linked
    assert "Aucune alerte en attente" in printed
    with ctx.db.session() as s:
        assert s.scalar(select(User.telegram_user_id).where(User.display_name == "Fanny")) == -1


def test_service_without_token_runs_the_console_and_its_outbox(ctx, world):
    link_user(ctx, world["facilitator"], -1)
    with ctx.db.session() as s:
        from clauses.alerts import raise_alert
        from storage.models import AlertKind

        raise_alert(s, kind=AlertKind.AUTRE, message="Relancer BTP Rhône",
                    facilitator_id=world["facilitator"], dedup_key="c:1")
    read_end = io.StringIO("/marches\n")
    out = io.StringIO()

    async def scenario() -> None:
        from types import SimpleNamespace

        service = ChatService(ctx, SimpleNamespace(telegram_token=None), stdin=read_end, out=out,
                              outbox_interval=0.05)
        await service.start()
        assert service.backend == "console"
        await service.wait_console_closed()
        for _ in range(100):
            if "Relancer BTP Rhône" in out.getvalue():
                break
            await asyncio.sleep(0.05)
        await service.stop()

    asyncio.run(asyncio.wait_for(scenario(), 20))
    printed = out.getvalue()
    assert "🔔 Relancer BTP Rhône" in printed and "[1] ☑️ Traitée" in printed
    assert "Votre portefeuille au 16/06/2025" in printed and "2025-017" in printed
