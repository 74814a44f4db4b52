"""`clausebot run` as a user runs it: a subprocess on embedded defaults (console chat, Maildir
mail, SQLite), fed a chat line and an incoming e-mail, then stopped with SIGTERM."""

from __future__ import annotations

import mailbox
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from storage.db import Database
from storage.models import HourDeclaration, InboundMail, MailStatus
from tests.servers._util import deliver, demo_service, running, stop, wait_for

CLI = [sys.executable, "-m", "clausebot.cli"]


def _replies_to(data: Path, address: str) -> list[mailbox.MaildirMessage]:
    new = data / "mail" / "outgoing" / "new"
    if not new.exists():
        return []
    messages = [mailbox.MaildirMessage(p.read_bytes()) for p in new.glob("*")]
    return [m for m in messages if address in (m["To"] or "")]


def test_run_on_embedded_defaults_answers_chat_and_mail_then_stops_cleanly(tmp_path):
    data = tmp_path / "data"
    env, printed = demo_service(data, CLAUSEBOT_CHAT_CONSOLE_INTERACTIVE="true")
    code = re.search(r"entreprise \(BTP Rhône\)\s+/start (\S+)", printed).group(1)
    deliver(data, sender="inconnu@exemple.test", subject="Bonjour", message_id="<e2e-1@exemple.test>",
            body="Pouvez-vous me donner les heures de l'entreprise BTP Rhône ?")

    out_path = tmp_path / "stdout.txt"
    with (out_path.open("w") as out,
          running([*CLI, "run"], env=env, stdin=subprocess.PIPE, stdout=out,
                  stderr=subprocess.PIPE, text=True) as proc):
        proc.stdin.write(f"/start {code}\n")
        proc.stdin.write("/avancement\n")
        proc.stdin.flush()
        wait_for(lambda: "Avancement au" in out_path.read_text(), what="chat answers")
        wait_for(lambda: _replies_to(data, "inconnu@exemple.test"),
                  what="reply to the sender in the outgoing Maildir")
        err = stop(proc)
    assert proc.returncode == 0, err
    assert "arrêté proprement" in err
    text = out_path.read_text()
    assert "Bienvenue" in text and "Gros œuvre" in text

    to_stranger = _replies_to(data, "inconnu@exemple.test")
    assert len(to_stranger) == 1
    body = to_stranger[0].get_payload(decode=False)
    assert "BTP" not in str(body)  # the reply reveals nothing

    db = Database(f"sqlite:///{data / 'clausebot.sqlite3'}")
    with db.session() as s:
        rows = s.scalars(select(InboundMail)).all()
        assert [(r.message_id, r.status) for r in rows] == [("<e2e-1@exemple.test>", MailStatus.TRAITE)]
        assert s.scalar(select(func.count()).select_from(HourDeclaration)) > 0
    db.dispose()
    processed = data / "mail" / "incoming" / ".Traités" / "cur"
    assert len(list(processed.glob("*"))) + len(list((processed.parent / "new").glob("*"))) == 1
    assert list((data / "mail" / "incoming" / "new").glob("*")) == []
