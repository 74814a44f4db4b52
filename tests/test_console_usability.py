"""The console as a newcomer meets it (issue 18): `clausebot run` from an empty database set up
by the command line, typed into like a terminal.

* the invitation code printed by `invitation create` has scrolled away: `!codes` lists the
  usable invitations and `!codes <n°>` gives a fresh code (the old one stops working);
* the scheduler's and the service's INFO lines go to `data/clausebot.log`, not into the
  conversation;
* every message printed says which console account it is for.
"""

from __future__ import annotations

import re
import subprocess
import sys

from tests.servers._util import running, service_env, stop, wait_for

CLI = [sys.executable, "-m", "clausebot.cli"]


def test_console_codes_quiet_logs_and_labelled_messages(tmp_path):
    data = tmp_path / "data"
    env = service_env(data, CLAUSEBOT_CHAT_CONSOLE_INTERACTIVE="true")
    for args in (["db", "upgrade"],
                 ["invitation", "create", "--role", "facilitateur", "--nom", "Fanny Martin"]):
        done = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    lost = re.search(r"Code \(affiché une seule fois\) : (\S+)", done.stdout).group(1)

    out_path, err_path = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with (out_path.open("w") as out, err_path.open("w") as err,
          running([*CLI, "run"], env=env, stdin=subprocess.PIPE, stdout=out, stderr=err,
                  text=True) as proc):
        proc.stdin.write("!codes\n!codes 1\n")
        proc.stdin.flush()
        fresh = wait_for(lambda: re.search(r"tapez /start (\S+)", out_path.read_text()),
                          what="a fresh code").group(1)
        proc.stdin.write(f"/start {lost}\n/start {fresh}\n/alertes\n")
        proc.stdin.flush()
        wait_for(lambda: "Aucune alerte en attente" in out_path.read_text(),
                  what="the answers")
        stop(proc)
    printed = out_path.read_text()
    assert "n° 1 : facilitateur, Fanny Martin — expire le" in printed
    assert "l'ancien code de l'invitation n° 1 ne marche plus" in printed
    assert fresh != lost
    # The replaced code is refused (neutrally), the fresh one links the account.
    assert "[compte 1] Ce code d'invitation n'est pas valide" in printed
    assert "[compte 1] Bienvenue, Fanny Martin" in printed
    assert "[compte 1] Aucune alerte en attente" in printed
    # Logs: nothing but warnings in the terminal; the journal has the rest.
    errors = err_path.read_text()
    assert "Journal du service" in errors
    assert " INFO " not in errors, errors
    journal = (data / "clausebot.log").read_text()
    assert " INFO " in journal
