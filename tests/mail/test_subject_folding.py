"""Long French subjects keep every space on the wire (outgoing mail, no server needed)."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from mail.outbox_sender import _set_subject

LONG_FR = ("[clausebot] E-mail à traiter de Sophie MARTIN (BTP Rhône-Confluent) "
           "<rh@btp-rhone-confluent.example> : « Question déclaration » (e-mail n° 1).")


@pytest.mark.parametrize("subject", [
    LONG_FR,
    "Re: Candidature marché 2025-017 – lot 05 : Mme Awa KOFFI et M. Moussa DIALLO, Mission Locale Sud",
    "Re: Heures",
    "Re: " + "declaration des heures du mois " * 5,  # long and ASCII
    "é",
])
def test_subject_read_back_as_written_with_short_lines(subject: str) -> None:
    msg = EmailMessage()
    msg["To"] = "a@example.test"
    _set_subject(msg, subject)
    msg.set_content("Bonjour")
    raw = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    assert str(message_from_bytes(raw, policy=policy.default)["Subject"]) == subject
    header = raw.split(b"\r\n\r\n")[0]
    assert all(len(line) <= 78 for line in header.split(b"\r\n"))
    assert header.count(b"Subject:") == 1

