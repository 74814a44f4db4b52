"""An e-mailed candidature with no company, validated from the facilitator's chat alert
(issue 18): the answer says who was told (the prescriber), never « L'entreprise en est
informée », and the prescriber's notice reads as a decision on the candidate it proposed.

Journey: the candidature arrives by IMAP (Dovecot), the alert reaches the facilitator's console
account through the outbox, the facilitator presses « ✅ Valider » (no « Traitée » beside it),
and the notice leaves by SMTP.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from bot.console import ConsoleTransport
from bot.core import ChatCore
from bot.outbox_sender import ChatOutboxSender
from storage.models import Candidature, CandidatureStatus, OutboxMessage
from tests.bot.conftest import link_user
from tests.mail.conftest import deliver, make_mail


def test_validated_prescriber_candidature_without_company(ctx, world, imap_account, imap_intake,
                                                          smtp_sink):
    link_user(ctx, world["facilitator"], -2)  # Fanny uses the chat (console account 2)
    imap_account.append("INBOX", make_mail(
        "Paul Conseiller <conseiller@ml-sud.test>", "Candidature Léa MARTIN",
        "Bonjour,\n\nNom : Martin\nPrénom : Léa\nDate de naissance : 02/03/1999\n"
        "Critères : RSA\n\nCordialement", message_id="<cand-sans-entreprise@ml-sud.test>"))
    assert imap_intake().run_once().by_status == {"traite": 1}
    with ctx.db.session() as s:
        cand = s.scalar(select(Candidature))
        assert cand.company_id is None and cand.prescriber_id == world["prescriber"]
        cand_id = cand.id

    core = ChatCore(ctx)
    transport = ConsoleTransport(core)
    fanny = transport.chat(2)
    asyncio.run(ChatOutboxSender(ctx.db, transport, chat_filter=OutboxMessage.to_chat_id < 0).drain())
    alert = fanny.last
    assert f"Candidature n° {cand_id} à valider" in alert.text
    assert alert.labels == ["✅ Valider", "❌ Refuser"]  # the decision handles the alert

    answer = fanny.press("✅ Valider")[-1].text
    assert answer.startswith(f"✅ Candidature n° {cand_id} validée. Le prescripteur qui l'a "
                             "proposée en est informé par e-mail. Aucune entreprise n'est encore "
                             "désignée pour ce candidat.\n")
    assert "L'entreprise" not in answer
    with ctx.db.session() as s:
        assert s.get(Candidature, cand_id).status == CandidatureStatus.VALIDEE

    deliver(ctx, imap_intake().core.cfg, smtp_sink)
    notices = [m for m in smtp_sink.messages_to("conseiller@ml-sud.test") if "décision" in m.subject]
    assert len(notices) == 1
    body = notices[0].text_body()
    assert body.startswith(f"Le candidat que vous avez proposé, MARTIN L., candidature n° {cand_id}")
    assert "est validé" in body and "Léa" not in body
