"""Parsing, authentication results, classification and candidate extraction (no servers)."""

from __future__ import annotations

from mail import authresults
from mail.candidature_text import extract_candidate
from mail.intent import Intent, classify, fresh_text
from mail.parsing import parse_message
from tests.mail.conftest import PDF_BYTES, XLSX_MIME, make_mail, xlsx_bytes


def _cp1252_message() -> bytes:
    body = "Bonjour,\n\nVoici la candidature de Mme Hélène LEFÈVRE, née le 03/04/1985 (RSA).\nCoût : 12 €.\n"
    return (
        b"From: =?windows-1252?Q?Paul_Conseill=E9?= <conseiller@ml-sud.test>\r\n"
        b"To: bot@agence.test\r\n"
        b"Subject: =?windows-1252?Q?Candidature_H=E9l=E8ne_LEF=C8VRE?=\r\n"
        b"Message-ID: <cp1252@test.example>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=windows-1252\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body.encode("cp1252")
    )


def test_windows_1252_body_and_header_are_decoded():
    parsed = parse_message(_cp1252_message())
    assert parsed.subject == "Candidature Hélène LEFÈVRE"
    assert "Hélène LEFÈVRE" in parsed.text and "12 €" in parsed.text
    assert parsed.from_address == "conseiller@ml-sud.test"
    assert parsed.fatal is None


def test_mislabelled_latin1_and_raw_8bit_header_are_read_as_cp1252():
    raw = (
        "From: chef@btp-rhone.test\r\nSubject: Relevé d’heures\r\nMessage-ID: <x1@t>\r\n"
        "Content-Type: text/plain; charset=iso-8859-1\r\n\r\nMontant : 30 € – fin\r\n"
    ).encode("cp1252")
    parsed = parse_message(raw)
    assert "30 € – fin" in parsed.text
    assert parsed.subject == "Relevé d’heures"


def test_unknown_charset_falls_back_without_crashing():
    raw = (b"From: a@b.test\r\nSubject: x\r\nContent-Type: text/plain; charset=x-unknown-42\r\n\r\n"
           + "Déclaration".encode())
    assert parse_message(raw).text.strip() == "Déclaration"


def test_html_only_body_becomes_text():
    raw = make_mail("a@b.test", "Bonjour", None,
                    html="<html><head><style>p{color:red}</style></head><body><p>Point marché "
                         "<b>2025-017</b></p><script>alert(1)</script><p>Merci&nbsp;!</p></body></html>")
    parsed = parse_message(raw)
    assert parsed.html_only
    assert "Point marché 2025-017" in parsed.text and "Merci !" in parsed.text
    assert "alert(1)" not in parsed.text and "color" not in parsed.text


def test_multipart_without_its_boundary_is_fatal():
    raw = (b"From: chef@btp-rhone.test\r\nSubject: casse\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=\"ABC\"\r\n\r\nno boundary here at all\r\n")
    parsed = parse_message(raw)
    assert parsed.fatal is not None
    assert parsed.from_address == "chef@btp-rhone.test"


def test_garbage_bytes_never_raise():
    for raw in (b"", b"\x00\xff\xfe" * 100, b"Subject: =?utf-8?B?////?=\r\n\r\n",
                b"From: <<<@@@>>>\r\nContent-Type: multipart/mixed\r\n\r\n--\r\n"):
        parsed = parse_message(raw)
        assert parsed.sha256 and parsed.dedup_id


def test_auto_replies_and_bounces_are_flagged():
    assert parse_message(make_mail("a@b.test", "Absent", headers={"Auto-Submitted": "auto-replied"})).auto_submitted
    assert parse_message(make_mail("a@b.test", "News", headers={"List-Id": "<x.lists>"})).auto_submitted
    bounce = parse_message(make_mail("MAILER-DAEMON@mx.test", "Undelivered"))
    assert bounce.is_bounce and bounce.auto_submitted


def test_attachment_names_are_cleaned():
    raw = make_mail("a@b.test", "cv", attachments=[("../../../etc/passwd.pdf", PDF_BYTES, "application/pdf"),
                                                   ("..\\..\\win\\evil.pdf", PDF_BYTES, "application/pdf")])
    names = [a.filename for a in parse_message(raw).attachments]
    assert names == ["passwd.pdf", "evil.pdf"]


# -- Authentication-Results ---------------------------------------------------------------------

def test_auth_results_dmarc_pass_from_our_server():
    headers = ["mx.agence.test; spf=pass smtp.mailfrom=chef@btp-rhone.test; "
               "dkim=pass header.d=btp-rhone.test; dmarc=pass (p=none) header.from=btp-rhone.test"]
    verdict = authresults.verify(headers, "btp-rhone.test", "mx.agence.test")
    assert verdict.passed and "dmarc" in verdict.reason


def test_auth_results_from_another_server_are_ignored():
    forged = ["evil.example; dmarc=pass header.from=btp-rhone.test"]
    assert not authresults.verify(forged, "btp-rhone.test", "mx.agence.test").passed


def test_auth_results_unaligned_spf_or_dmarc_fail_are_refused():
    unaligned = ["mx.agence.test; spf=pass smtp.mailfrom=x@spammer.test; dkim=pass header.d=spammer.test"]
    assert not authresults.verify(unaligned, "btp-rhone.test", "mx.agence.test").passed
    failed = ["mx.agence.test; spf=pass smtp.mailfrom=chef@btp-rhone.test; dmarc=fail header.from=btp-rhone.test"]
    assert not authresults.verify(failed, "btp-rhone.test", "mx.agence.test").passed
    assert authresults.verify(["mx.agence.test; dkim=pass header.d=btp-rhone.test"],
                              "mail.btp-rhone.test", "mx.agence.test").passed


def test_auth_results_without_authserv_id_reads_only_the_top_header():
    headers = ["mx.agence.test; spf=fail smtp.mailfrom=chef@btp-rhone.test",
               "attacker; dmarc=pass header.from=btp-rhone.test"]
    assert not authresults.verify(headers, "btp-rhone.test", None).passed


# -- classification ------------------------------------------------------------------------------

def _classify(subject: str, text: str = "", attachments=()):
    return classify(parse_message(make_mail("a@b.test", subject, text or "Bonjour", attachments=attachments)))


def test_classification():
    assert _classify("Heures", attachments=[("h.xlsx", xlsx_bytes([]), XLSX_MIME)]).intent == Intent.DECLARATION
    assert _classify("Heures", attachments=[("h.csv", b"nom;mois\n", "text/csv")]).intent == Intent.DECLARATION
    c = _classify("Demande", "Bonjour, pouvez-vous m'envoyer le point marché 2024-017 ?")
    assert (c.intent, c.market_reference) == (Intent.POINT_MARCHE, "2024-017")
    c = _classify("bilan 2025")
    assert (c.intent, c.year) == (Intent.BILAN, 2025)
    c = _classify("Point d'étape", "Pouvez-vous faire un point d'étape du marché 2025-017 ?")
    assert (c.intent, c.market_reference) == (Intent.POINT_MARCHE, "2025-017")
    assert _classify("Candidature", "Nom : X").intent == Intent.CANDIDATURE
    assert _classify("Proposition", "Voici le CV", [("cv.pdf", PDF_BYTES, "application/pdf")]).intent == Intent.CANDIDATURE
    assert _classify("Modèle", "Pouvez-vous m'envoyer le modèle de déclaration ?").intent == Intent.TEMPLATE
    assert _classify("Réunion jeudi", "On décale à 14h ?").intent == Intent.OTHER


def test_quoted_history_is_ignored():
    text = "Merci beaucoup.\n\nLe 12/06/2025 à 10:00, Agence a écrit :\n> bilan 2025\n> candidature"
    assert fresh_text(text) == "Merci beaucoup."
    assert _classify("Re: Votre message", text).intent == Intent.OTHER


# -- candidate extraction ----------------------------------------------------------------------------

def _criteria():
    from clauses.rulebook import load_rulebook

    return load_rulebook("default").eligibility.criteria


def test_structured_candidate():
    text = ("Bonjour,\nNom : Martin\nPrénom : Léa\nDate de naissance : 02/03/1999\nSexe : F\n"
            "Commune : Oullins\nQPV : oui\nCritères : RSA, DELD\nMarché : 2025-017\nLot : 2\n"
            "Téléphone : 06 12 34 56 78\n")
    fields = extract_candidate(text, "Candidature", _criteria())
    c = fields.candidate
    assert c is not None and fields.structured
    assert (c.last_name, c.first_name, c.gender, c.commune, c.qpv) == ("Martin", "Léa", "F", "Oullins", True)
    assert c.birth_date.isoformat() == "1999-03-02"
    assert c.criteria_claimed == ["rsa", "deld"]
    assert (fields.market_reference, fields.lot_number) == ("2025-017", 2)


def test_free_text_candidate_and_unknown_name():
    fields = extract_candidate("Je vous propose la candidature de Mme Hélène LEFÈVRE, bénéficiaire du RSA.",
                               "Candidature", _criteria())
    assert fields.candidate is not None
    assert (fields.candidate.last_name, fields.candidate.first_name, fields.candidate.gender) == ("LEFÈVRE", "Hélène", "F")
    assert "rsa" in fields.candidate.criteria_claimed
    by_file = extract_candidate("Voir CV joint.", "Candidature", _criteria(), cv_filename="CV_Karim_BENALI.pdf")
    assert by_file.candidate is not None and by_file.candidate.last_name == "BENALI"
    assert extract_candidate("Voir pièce jointe.", "Candidature", _criteria()).candidate is None
