"""The IMAP intake against a real Dovecot: database, folders and replies (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from imapclient import IMAPClient
from sqlalchemy import select

from mail.imap_intake import ImapIntake
from storage.models import (
    Alert,
    AlertKind,
    Candidature,
    DeclarationRevision,
    Document,
    HourDeclaration,
    InboundMail,
    MailboxState,
    MailStatus,
    OutboxMessage,
    Participant,
    ServiceEvent,
)
from tests.mail.conftest import (
    PDF_BYTES,
    XLSX_MIME,
    count,
    deliver,
    inbound_rows,
    make_mail,
    outbox_rows,
    xlsx_bytes,
)
from tests.mail.test_files import entity_bomb_xlsx, zip_bomb_xlsx
from tests.mail.test_understanding import _cp1252_message

CHEF = "Chef BTP <chef@btp-rhone.test>"
CONSEILLER = "Paul Conseiller <conseiller@ml-sud.test>"
REFERENTE = "Juliette Rey <juliette.rey@oullins.test>"


def _folders(account) -> dict[str, int]:
    return {name: len(account.folder_uids(name)) for name in ("INBOX", "Traités", "Erreurs", "Quarantaine")}


def _declaration_mail(rows, **kw) -> bytes:
    return make_mail(CHEF, "Déclaration des heures", "Bonjour, ci-joint nos heures.",
                     attachments=[("heures-mai.xlsx", xlsx_bytes(rows), XLSX_MIME)], **kw)


def test_candidature_with_pdf_cv(ctx, world, imap_account, imap_intake, smtp_sink):
    raw = make_mail(CONSEILLER, "Candidature Léa MARTIN — maçonnerie",
                    "Bonjour,\n\nNom : Martin\nPrénom : Léa\nDate de naissance : 02/03/1999\nSexe : F\n"
                    "Commune : Oullins\nCritères : RSA, DELD\nMarché : 2025-017\nLot : 2\n\nCordialement",
                    attachments=[("CV Léa Martin.pdf", PDF_BYTES, "application/pdf")],
                    message_id="<cand-1@ml-sud.test>")
    imap_account.append("INBOX", raw)
    intake = imap_intake()
    stats = intake.run_once()
    assert stats.by_status == {"traite": 1}
    assert _folders(imap_account) == {"INBOX": 0, "Traités": 1, "Erreurs": 0, "Quarantaine": 0}
    with ctx.db.session() as s:
        cand = s.scalar(select(Candidature))
        person = s.get(Participant, cand.participant_id)
        cv = s.get(Document, cand.cv_document_id)
        assert (person.last_name, person.first_name, person.birth_date) == ("Martin", "Léa", dt.date(1999, 3, 2))
        assert cand.criteria_claimed == ["rsa", "deld"] and cand.status.value == "a_valider"
        assert cand.prescriber_id == world["prescriber"] and cand.company_id == world["company"]
        assert cand.lot_id == world["lot"]
        assert (cv.kind, cv.mime_type, cv.participant_id) == ("cv", "application/pdf", person.id)
        assert ctx.documents.read(cv) == PDF_BYTES
        alert = s.scalar(select(Alert).where(Alert.kind == AlertKind.CANDIDATURE_A_VALIDER))
        assert alert is not None and "MARTIN Léa" in alert.message and "CV joint" in alert.message
        [row] = s.scalars(select(InboundMail)).all()
        assert (row.status, row.kind, row.message_id) == (MailStatus.TRAITE, "candidature", "<cand-1@ml-sud.test>")
        assert row.raw_document_id is not None and row.moved_at is not None
    report = deliver(ctx, intake.core.cfg, smtp_sink)
    assert report.sent >= 1
    [reply] = smtp_sink.messages_to("conseiller@ml-sud.test")
    assert reply.message["In-Reply-To"] == "<cand-1@ml-sud.test>"
    assert "<cand-1@ml-sud.test>" in reply.message["References"]
    assert reply.subject == "Re: Candidature Léa MARTIN — maçonnerie"
    assert reply.message["Auto-Submitted"] == "auto-replied"
    body = reply.text_body()
    assert f"n° {cand.id}" in body and "RSA" in body and "Le CV est joint" in body
    html = reply.message.get_body(preferencelist=("html",)).get_content()
    assert "Léa Martin" in html


def test_valid_xlsx_declaration(ctx, world, imap_account, imap_intake, smtp_sink):
    imap_account.append("INBOX", _declaration_mail([
        ["2025-017", 2, "Dupont", "Marie", "03/2025", 120, 7],
        ["2025-017", 2, "DUPONT", "marie", "04/2025", "151,67", None],
    ], message_id="<decl-ok@btp-rhone.test>"))
    intake = imap_intake()
    intake.run_once()
    assert _folders(imap_account)["Traités"] == 1
    with ctx.db.session() as s:
        rows = s.scalars(select(HourDeclaration).order_by(HourDeclaration.month)).all()
        assert [(r.month, r.work_hours, r.training_hours, r.source.value) for r in rows] == [
            (dt.date(2025, 3, 1), Decimal("120.00"), Decimal("7.00"), "email"),
            (dt.date(2025, 4, 1), Decimal("151.67"), Decimal("0.00"), "email"),
        ]
        assert all(r.declared_by_email == "chef@btp-rhone.test" for r in rows)
        assert all(r.proof_document_id is not None for r in rows)
        inbound = s.scalar(select(InboundMail))
        assert inbound.result["lines_recorded"] == 2 and inbound.result["lines_refused"] == 0
    deliver(ctx, intake.core.cfg, smtp_sink)
    [reply] = smtp_sink.messages_to("chef@btp-rhone.test")
    body = reply.text_body()
    assert "Lignes enregistrées (2)" in body and "mars 2025" in body and "151,67 h" in body
    assert "refusées" not in body
    assert reply.message["In-Reply-To"] == "<decl-ok@btp-rhone.test>"


def test_declaration_with_bad_lines(ctx, world, imap_account, imap_intake, smtp_sink):
    imap_account.append("INBOX", _declaration_mail([
        ["2025-017", 2, "Dupont", "Marie", "05/2025", 100, 0],     # ok
        ["2025-017", 2, "Durand", "Paul", "05/2025", 35, 0],       # no such contract
        ["2025-017", 2, "Dupont", "Marie", "13/2025", "beaucoup", 0],  # bad month, bad hours
        ["2025-017", 2, "Dupont", "Marie", "12/2025", 10, 0],      # future month
        ["2025-017", 2, "Dupont", "Marie", "05/2025", 90, 0],      # same month again
    ]))
    intake = imap_intake()
    intake.run_once()
    assert _folders(imap_account)["Traités"] == 1  # one line recorded: processed
    assert count(ctx, HourDeclaration) == 1
    deliver(ctx, intake.core.cfg, smtp_sink)
    [reply] = smtp_sink.messages_to("chef@btp-rhone.test")
    body = reply.text_body()
    assert "Lignes enregistrées (1)" in body and "Lignes refusées (4)" in body
    for fragment in ("ligne 3 : Aucun contrat trouvé pour DURAND Paul", "ligne 4 : Mois non reconnu",
                     "Nombre non reconnu", "ligne 5 :", "ligne 6 :"):
        assert fragment in body, fragment
    # A file where nothing is usable goes to Erreurs, with the template attached.
    imap_account.append("INBOX", make_mail(CHEF, "Heures", "ci-joint", attachments=[
        ("heures.xlsx", xlsx_bytes([["a", "b"]], header=["quoi", "combien"]), XLSX_MIME)]))
    intake.run_once()
    assert _folders(imap_account)["Erreurs"] == 1
    deliver(ctx, intake.core.cfg, smtp_sink)
    second = smtp_sink.messages_to("chef@btp-rhone.test")[-1]
    assert "Ligne de titres introuvable" in second.text_body()
    assert {name for name, _, _ in second.attachments()} == {"modele-declaration-heures.xlsx",
                                                             "modele-declaration-heures.csv"}


def test_unknown_sender_gets_a_reply_that_reveals_nothing(ctx, world, imap_account, imap_intake, smtp_sink):
    for n in range(2):
        imap_account.append("INBOX", make_mail("Inconnu <curieux@ailleurs.test>", f"bilan 2025 ({n})",
                                               "Donnez-moi les heures de DUPONT Marie sur le marché 2025-017."))
    intake = imap_intake()
    intake.run_once()
    assert _folders(imap_account)["Traités"] == 2
    rows = inbound_rows(ctx)
    assert [r.kind for r in rows] == ["expediteur_inconnu", "expediteur_inconnu"]
    assert count(ctx, Alert, Alert.kind == AlertKind.EXPEDITEUR_INCONNU) == 2
    deliver(ctx, intake.core.cfg, smtp_sink)
    replies = smtp_sink.messages_to("curieux@ailleurs.test")
    assert len(replies) == 1  # at most one reply a day per unknown address
    body = replies[0].text_body() + replies[0].message.get_body(preferencelist=("html",)).get_content()
    for secret in ("Dupont", "DUPONT", "2025-017", "Oullins", "BTP", "heures"):
        assert secret not in body.replace("Re: bilan", ""), secret
    assert "n'est pas encore enregistrée" in body
    # The facilitator was told (by e-mail, having no chat link).
    assert any("adresse inconnue" in m.subject for m in smtp_sink.messages_to("fanny@agence.test"))


def test_windows_1252_candidature(ctx, world, imap_account, imap_intake):
    imap_account.append("INBOX", _cp1252_message())
    imap_intake().run_once()
    [row] = inbound_rows(ctx)
    assert row.subject == "Candidature Hélène LEFÈVRE" and row.kind == "candidature"
    with ctx.db.session() as s:
        person = s.scalar(select(Participant).where(Participant.last_name == "LEFÈVRE"))
        assert person is not None and person.first_name == "Hélène"
        assert person.birth_date == dt.date(1985, 4, 3)


def test_malformed_mime_goes_to_quarantine(ctx, world, imap_account, imap_intake, smtp_sink):
    raw = (b"From: chef@btp-rhone.test\r\nTo: bot@agence.test\r\nSubject: heures\r\n"
           b"Message-ID: <broken@btp-rhone.test>\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=\"NEVER-THERE\"\r\n\r\n"
           b"--WRONG\r\nContent-Type: text/plain\r\n\r\nhello\r\n")
    imap_account.append("INBOX", raw)
    imap_account.append("INBOX", make_mail(CHEF, "Autre chose", "Une question sur la réunion."))
    intake = imap_intake()
    intake.run_once()  # the intake goes on after the broken one
    assert _folders(imap_account) == {"INBOX": 0, "Traités": 1, "Erreurs": 0, "Quarantaine": 1}
    broken = next(r for r in inbound_rows(ctx) if r.message_id == "<broken@btp-rhone.test>")
    assert (broken.status, broken.kind) == (MailStatus.QUARANTAINE, "mime_invalide")
    assert count(ctx, Alert, Alert.kind == AlertKind.QUARANTAINE) == 1
    deliver(ctx, intake.core.cfg, smtp_sink)
    subjects = [m.text_body() for m in smtp_sink.messages_to("chef@btp-rhone.test")]
    assert any("n'a pas pu être lu correctement" in b for b in subjects)  # known sender is told


def test_oversized_attachment_and_oversized_message(ctx, world, imap_account, imap_intake, smtp_sink):
    big_cv = PDF_BYTES + b"%" + b"0" * 300_000
    imap_account.append("INBOX", make_mail(CONSEILLER, "Candidature", "Nom : Martin\nPrénom : Léa",
                                           attachments=[("cv.pdf", big_cv, "application/pdf")]))
    imap_account.append("INBOX", make_mail(CHEF, "Photos du chantier", "ci-joint",
                                           attachments=[("photo.pdf", PDF_BYTES + b"1" * 900_000, "application/pdf")],
                                           message_id="<huge@btp-rhone.test>"))
    intake = imap_intake(max_attachment_bytes=200_000, max_message_bytes=1_000_000)
    stats = intake.run_once()
    assert stats.by_status == {"erreur": 2}
    assert _folders(imap_account)["Erreurs"] == 2
    assert count(ctx, Candidature) == 0
    kinds = {r.kind for r in inbound_rows(ctx)}
    assert kinds == {"piece_jointe_refusee", "trop_volumineux"}
    huge = next(r for r in inbound_rows(ctx) if r.kind == "trop_volumineux")
    assert huge.size > 1_000_000 and huge.message_id == "<huge@btp-rhone.test>"
    deliver(ctx, intake.core.cfg, smtp_sink)
    [cv_reply] = smtp_sink.messages_to("conseiller@ml-sud.test")
    assert "trop volumineux" in cv_reply.text_body() and "Rien n'a été enregistré" in cv_reply.text_body()
    [huge_reply] = smtp_sink.messages_to("chef@btp-rhone.test")
    assert "message est trop volumineux" in huge_reply.text_body()
    assert huge_reply.message["In-Reply-To"] == "<huge@btp-rhone.test>"


def test_crash_between_commit_and_move_does_not_process_twice(ctx, world, imap_account, imap_intake):
    imap_account.append("INBOX", _declaration_mail([["2025-017", 2, "Dupont", "Marie", "03/2025", 50, 0]]))
    intake = imap_intake()
    original_move = ImapIntake.move

    def crash(self, client, key, status):
        raise ConnectionResetError("simulated crash after the commit, before the MOVE")

    ImapIntake.move = crash
    try:
        with pytest.raises(ConnectionResetError):
            intake.run_once()
    finally:
        ImapIntake.move = original_move
    assert _folders(imap_account)["INBOX"] == 1  # not moved
    [row] = inbound_rows(ctx)
    assert row.moved_at is None and row.status == MailStatus.TRAITE
    outbox_before = len(outbox_rows(ctx))

    stats = imap_intake().run_once()  # restart
    assert stats.processed == 0 and stats.moved == 1
    assert _folders(imap_account) == {"INBOX": 0, "Traités": 1, "Erreurs": 0, "Quarantaine": 0}
    assert count(ctx, InboundMail) == 1 and count(ctx, DeclarationRevision) == 1
    assert len(outbox_rows(ctx)) == outbox_before
    assert inbound_rows(ctx)[0].moved_at is not None


def test_batched_moves_crash_after_the_commits_moves_each_to_its_folder_once(
        ctx, world, imap_account, imap_intake, monkeypatch):
    """Three committed messages wait for one batched MOVE per folder; the connection dies at the
    first MOVE: nothing moved, nothing lost; the restart only moves them, each to its folder."""
    broken = (b"From: chef@btp-rhone.test\r\nTo: bot@agence.test\r\nSubject: heures\r\n"
              b"Message-ID: <broken@btp-rhone.test>\r\nMIME-Version: 1.0\r\n"
              b"Content-Type: multipart/mixed; boundary=\"NEVER-THERE\"\r\n\r\n--WRONG\r\n")
    imap_account.append("INBOX", _declaration_mail([["2025-017", 2, "Dupont", "Marie", "03/2025", 50, 0]]))
    imap_account.append("INBOX", broken)
    imap_account.append("INBOX", make_mail(CHEF, "Autre chose", "Une question sur la réunion."))
    commands: list[tuple[list[int], str]] = []
    real_move = IMAPClient.move

    def dies(self, messages, folder):
        commands.append((list(messages), folder))
        raise ConnectionResetError("simulated crash after the commits, at the first MOVE")

    monkeypatch.setattr(IMAPClient, "move", dies)
    with pytest.raises(ConnectionResetError):
        imap_intake().run_once()
    assert len(commands) == 1  # the batch stopped at its first command
    assert _folders(imap_account)["INBOX"] == 3
    assert count(ctx, InboundMail) == 3 and all(r.moved_at is None for r in inbound_rows(ctx))
    outbox_before = len(outbox_rows(ctx))

    def records(self, messages, folder):
        commands.append((list(messages), folder))
        return real_move(self, messages, folder)

    monkeypatch.setattr(IMAPClient, "move", records)
    commands.clear()
    stats = imap_intake().run_once()
    assert stats.processed == 0 and stats.moved == 3
    assert sorted(folder for _, folder in commands) == ["Quarantaine", "Traités"]  # one per folder
    assert sorted(len(uids) for uids, _ in commands) == [1, 2]
    assert _folders(imap_account) == {"INBOX": 0, "Traités": 2, "Erreurs": 0, "Quarantaine": 1}
    assert count(ctx, InboundMail) == 3 and count(ctx, DeclarationRevision) == 1
    assert len(outbox_rows(ctx)) == outbox_before
    assert all(r.moved_at is not None for r in inbound_rows(ctx))


def test_uidvalidity_change_rescans_and_deduplicates(ctx, world, imap_account, imap_intake):
    folder = "Entrant"
    first = _declaration_mail([["2025-017", 2, "Dupont", "Marie", "03/2025", 50, 0]], message_id="<m1@btp-rhone.test>")
    imap_account.append(folder, first)
    intake = imap_intake(imap_folders=(folder,))
    intake.run_once()
    with ctx.db.session() as s:
        old_validity = s.scalar(select(MailboxState.uidvalidity).where(MailboxState.folder == folder))
    replies = len(outbox_rows(ctx, "chef@btp-rhone.test"))
    # The mailbox is rebuilt (restored from a backup): new UIDVALIDITY, the old message is back.
    with imap_account.client() as client:
        client.delete_folder(folder)
        client.create_folder(folder)
    imap_account.append(folder, first)
    imap_account.append(folder, make_mail(CHEF, "Question", "Quand a lieu la réunion ?", message_id="<m2@btp-rhone.test>"))
    stats = intake.run_once()
    assert stats.processed == 2
    with ctx.db.session() as s:
        state = s.scalar(select(MailboxState).where(MailboxState.folder == folder))
        assert state.uidvalidity != old_validity and state.last_uid >= 2
        kinds = [r.kind for r in s.scalars(select(InboundMail).order_by(InboundMail.id))]
        assert kinds == ["declaration", "doublon", "autre"]
        assert s.scalar(select(ServiceEvent).where(ServiceEvent.message.like("UIDVALIDITY%"))) is not None
    assert count(ctx, DeclarationRevision) == 1
    assert len(outbox_rows(ctx, "chef@btp-rhone.test")) == replies + 1  # only the new message's reply
    assert len(imap_account.folder_uids("Traités")) == 3


def test_spoofed_sender_when_authentication_results_are_required(ctx, world, imap_account, imap_intake, smtp_sink):
    rows = [["2025-017", 2, "Dupont", "Marie", "03/2025", 50, 0]]
    spoofed = _declaration_mail(rows, headers={
        "Authentication-Results": "mx.agence.test; spf=fail smtp.mailfrom=chef@btp-rhone.test; "
                                  "dkim=none; dmarc=fail header.from=btp-rhone.test"})
    forged = _declaration_mail(rows, headers={
        "Authentication-Results": "evil.example; dmarc=pass header.from=btp-rhone.test"})
    genuine = _declaration_mail(rows, headers={
        "Authentication-Results": "mx.agence.test; dkim=pass header.d=btp-rhone.test; "
                                  "dmarc=pass header.from=btp-rhone.test"})
    for raw in (spoofed, forged, genuine):
        imap_account.append("INBOX", raw)
    intake = imap_intake(require_authentication_results=True, authserv_id="mx.agence.test")
    intake.run_once()
    assert _folders(imap_account) == {"INBOX": 0, "Traités": 1, "Erreurs": 0, "Quarantaine": 2}
    assert [r.kind for r in inbound_rows(ctx)] == ["non_authentifie", "non_authentifie", "declaration"]
    assert count(ctx, DeclarationRevision) == 1
    assert count(ctx, Alert, Alert.kind == AlertKind.QUARANTAINE) == 2
    deliver(ctx, intake.core.cfg, smtp_sink)
    assert len(smtp_sink.messages_to("chef@btp-rhone.test")) == 1  # only the genuine one is answered


@pytest.mark.parametrize("bomb", ["zip", "entities"])
def test_zip_bomb_and_xml_entity_bomb_are_quarantined(ctx, world, imap_account, imap_intake, bomb):
    data = zip_bomb_xlsx() if bomb == "zip" else entity_bomb_xlsx()
    imap_account.append("INBOX", make_mail(CHEF, "Heures", "ci-joint", attachments=[("heures.xlsx", data, XLSX_MIME)]))
    began = time.monotonic()
    imap_intake().run_once()
    assert time.monotonic() - began < 20
    assert _folders(imap_account)["Quarantaine"] == 1
    [row] = inbound_rows(ctx)
    assert (row.status, row.kind) == (MailStatus.QUARANTAINE, "piece_jointe_dangereuse")
    assert count(ctx, HourDeclaration) == 0
    assert count(ctx, Alert, Alert.kind == AlertKind.QUARANTAINE) == 1
    assert outbox_rows(ctx, "chef@btp-rhone.test") == []


def test_path_traversal_in_attachment_names(ctx, world, imap_account, imap_intake, tmp_path):
    imap_account.append("INBOX", make_mail(
        CONSEILLER, "Candidature", "Nom : Martin\nPrénom : Léa\nCritères : RSA",
        attachments=[("../../../../../../tmp/pwned.pdf", PDF_BYTES, "application/pdf")]))
    imap_account.append("INBOX", make_mail(
        CHEF, "Heures", "ci-joint",
        attachments=[("..\\..\\..\\Windows\\System32\\heures.xlsx",
                      xlsx_bytes([["2025-017", 2, "Dupont", "Marie", "03/2025", 5, 0]]), XLSX_MIME)]))
    imap_intake().run_once()
    assert not Path("/tmp/pwned.pdf").exists()
    with ctx.db.session() as s:
        names = {d.display_name for d in s.scalars(select(Document).where(Document.kind.in_(["cv", "spreadsheet"])))}
    assert names == {"pwned.pdf", "heures.xlsx"}
    docs_root = Path(ctx.documents.root).resolve()
    for path in docs_root.rglob("*"):
        assert path.resolve().is_relative_to(docs_root)
        assert "pwned" not in path.name and "heures" not in path.name  # stored by hash only
    assert count(ctx, Candidature) == 1 and count(ctx, HourDeclaration) == 1


def test_winmail_and_password_protected_files_get_a_reply(ctx, world, imap_account, imap_intake, smtp_sink):
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512 + "EncryptedPackage".encode("utf-16-le")
    imap_account.append("INBOX", make_mail(CHEF, "Heures", "ci-joint",
                                           attachments=[("heures.xlsx", ole, XLSX_MIME)]))
    imap_account.append("INBOX", make_mail(CHEF, "Heures bis", "ci-joint",
                                           attachments=[("winmail.dat", b"\x78\x9f\x3e\x22" + b"\x01" * 40,
                                                         "application/ms-tnef")]))
    intake = imap_intake()
    intake.run_once()
    assert _folders(imap_account)["Erreurs"] == 2
    deliver(ctx, intake.core.cfg, smtp_sink)
    bodies = " ".join(m.text_body() for m in smtp_sink.messages_to("chef@btp-rhone.test"))
    assert "protégé par un mot de passe" in bodies and "winmail.dat" in bodies


def test_report_requests_from_a_referent(ctx, world, imap_account, imap_intake, smtp_sink):
    with ctx.db.session() as s:
        from tests import factories

        other = factories.donneur(s, "Ville voisine")
        factories.market(s, other, reference="2025-099")
    imap_account.append("INBOX", make_mail(REFERENTE, "Demande", "Bonjour, pouvez-vous m'envoyer le bilan 2025 ?",
                                           message_id="<bilan@oullins.test>"))
    imap_account.append("INBOX", make_mail(REFERENTE, "point marché 2025-099", "merci"))
    imap_account.append("INBOX", make_mail(CHEF, "bilan 2025", "Pouvons-nous avoir le bilan 2025 ?"))
    intake = imap_intake()
    intake.run_once()
    assert [r.kind for r in inbound_rows(ctx)] == ["bilan", "point_marche_non_autorise", "bilan_non_autorise"]
    deliver(ctx, intake.core.cfg, smtp_sink)
    to_ref = smtp_sink.messages_to("juliette.rey@oullins.test")
    bilan = next(m for m in to_ref if m.message["In-Reply-To"] == "<bilan@oullins.test>")
    assert "Oullins" in bilan.text_body() and "2025" in bilan.text_body()
    html_part = bilan.message.get_body(preferencelist=("html",))
    related = [p for p in bilan.message.walk() if p.get("Content-ID")]
    assert related and all(f"cid:{p['Content-ID'].strip('<>')}" in html_part.get_content() for p in related)
    assert any(name.endswith(".xlsx") for name, _, _ in bilan.attachments())
    refused = next(m for m in to_ref if m is not bilan)
    assert "2025-099" in refused.text_body() and "Ville voisine" not in refused.text_body()
    [chef] = smtp_sink.messages_to("chef@btp-rhone.test")
    assert "référents" in chef.text_body()


def test_idle_wakes_the_intake_and_stop_is_prompt(ctx, world, imap_account, imap_intake):
    intake = imap_intake(imap_poll_seconds=300, imap_idle_seconds=300)
    stop = threading.Event()
    thread = threading.Thread(target=intake.run, args=(stop,), daemon=True)
    thread.start()
    try:
        time.sleep(0.5)  # connected, scanned, now idling
        began = time.monotonic()
        imap_account.append("INBOX", make_mail(CHEF, "Question", "Une question."))
        imap_account.wait_for_count("Traités", 1, timeout=10)
        assert time.monotonic() - began < 10  # far less than the 300 s poll interval
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert [r.kind for r in inbound_rows(ctx)] == ["autre"]


def test_unreachable_server_is_retried_and_recorded(ctx, world, imap_account, imap_intake):
    from tests.servers._util import free_port

    intake = imap_intake(imap_port=free_port(), imap_reconnect_max_seconds=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=intake.run, args=(stop,), daemon=True)
    thread.start()
    time.sleep(1.0)
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    with ctx.db.session() as s:
        events = s.scalars(select(ServiceEvent).where(ServiceEvent.component == "mail")).all()
    assert len(events) >= 2 and all("reconnexion" in e.message for e in events)


def test_internal_error_quarantines_the_message_and_goes_on(ctx, world, imap_account, imap_intake, monkeypatch):
    import mail.handlers

    def boom(job, classified):
        raise RuntimeError("bug in a handler")

    monkeypatch.setattr(mail.handlers, "handle_other", boom)
    imap_account.append("INBOX", make_mail(CHEF, "Question", "Une question.", message_id="<q@btp-rhone.test>"))
    imap_account.append("INBOX", _declaration_mail([["2025-017", 2, "Dupont", "Marie", "03/2025", 5, 0]]))
    imap_intake().run_once()
    assert _folders(imap_account) == {"INBOX": 0, "Traités": 1, "Erreurs": 0, "Quarantaine": 1}
    crashed = next(r for r in inbound_rows(ctx) if r.kind == "erreur_interne")
    assert "bug in a handler" in crashed.result["error"] and crashed.raw_document_id is not None
    assert count(ctx, Alert, Alert.kind == AlertKind.QUARANTAINE) == 1
    assert count(ctx, OutboxMessage, OutboxMessage.to_address == "chef@btp-rhone.test") == 1  # the declaration's


def test_throughput_200_messages(ctx, world, imap_account, imap_intake, backend):
    syllables = ["ba", "de", "li", "mo", "ru", "sa", "te", "vi", "no", "ka"]
    with imap_account.client() as client:
        for i in range(200):
            if i % 2:
                name = "".join(syllables[int(d)] for d in f"{i:03d}").capitalize()
                raw = make_mail(CONSEILLER, f"Candidature {i}", f"Nom : {name}\nPrénom : Lea\nCritères : RSA",
                                attachments=[("cv.pdf", PDF_BYTES, "application/pdf")])
            else:
                raw = make_mail(CHEF, f"Question {i}", "Une question sur le chantier.")
            client.append("INBOX", raw)
    intake = imap_intake()
    began = time.monotonic()
    stats = intake.run_once()
    elapsed = time.monotonic() - began
    assert stats.processed == 200 and stats.moved == 200
    assert count(ctx, Candidature) == 100 and count(ctx, InboundMail) == 200
    print(f"\n[throughput] IMAP intake on {backend}: 200 messages in {elapsed:.2f}s = {200 / elapsed:.1f} messages/s")


def test_raw_message_is_kept_byte_for_byte(ctx, world, imap_account, imap_intake):
    raw = make_mail(CHEF, "Question", "Une question.")
    imap_account.append("INBOX", raw)
    imap_intake().run_once()
    [row] = inbound_rows(ctx)
    with ctx.db.session() as s:
        doc = s.get(Document, row.raw_document_id)
        stored = ctx.documents.read(doc)
        assert doc.delete_after is not None
    assert message_from_bytes(stored, policy=policy.default)["Subject"] == "Question"
    assert stored.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")


def test_a_long_declaration_file_is_acknowledged_with_a_summary(ctx, world, imap_account,
                                                                imap_intake, smtp_sink):
    """60 lines by e-mail: every line stored, the reply sums them up by month and lists the
    lines that deserve a look (a warning, a refusal) rather than all 60."""
    from storage.models import Engagement, User
    from tests import factories as f

    with ctx.db.session() as s:
        eng = s.get(Engagement, world["engagement"])
        fac = s.get(User, world["facilitator"])
        names = [f"Salarie{i:02d}" for i in range(12)]
        for name in names:
            f.contract(s, f.participant(s, name, "Alex", validated_by=fac), eng,
                       start=dt.date(2025, 1, 6))
    rows = [["2025-017", 2, name, "Alex", f"{m:02d}/2025", 35, 0]
            for name in names for m in range(1, 6)]
    rows[7][5] = 160  # above a full-time month: recorded with a warning
    rows.append(["2025-017", 2, "Inconnu", "Personne", "03/2025", 10, 0])  # refused
    imap_account.append("INBOX", _declaration_mail(rows, message_id="<long@btp-rhone.test>"))
    intake = imap_intake()
    intake.run_once()
    assert count(ctx, HourDeclaration) == 60
    deliver(ctx, intake.core.cfg, smtp_sink)
    [reply] = smtp_sink.messages_to("chef@btp-rhone.test")
    body = reply.text_body().replace("\u202f", " ").replace("\xa0", " ").replace("\r\n", "\n")
    assert "Lignes enregistrées (60)" in body
    assert "janvier 2025 : 12 ligne(s), 420 h de travail" in body
    assert "mars 2025 : 12 ligne(s), 545 h de travail" in body  # 11 x 35 h + 160 h
    assert "Lignes à regarder (1 ; les 59 autres sont enregistrées sans remarque)" in body
    assert "ligne 9 :" in body and "attention" in body  # row 9 of the sheet: the 160 h line
    assert "ligne 10 :" not in body
    assert "Lignes refusées (1)" in body and "ligne 62" in body
