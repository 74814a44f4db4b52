"""`clausebot modele-declaration` writes the template the intake reads."""

from __future__ import annotations

import datetime as dt
import io

import openpyxl
from click.testing import CliRunner

from clausebot.cli import main
from mail.declaration_template import COLUMNS
from mail.spreadsheet import parse_declaration_file


def test_modele_declaration_xlsx_and_csv(tmp_path):
    runner = CliRunner()
    out = tmp_path / "modele.xlsx"
    result = runner.invoke(main, ["modele-declaration", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Modèle de déclaration (XLSX)" in result.output
    wb = openpyxl.load_workbook(io.BytesIO(out.read_bytes()))
    assert [c.value for c in wb.worksheets[0][1]] == [c.header for c in COLUMNS]
    csv_out = tmp_path / "modele.csv"
    result = runner.invoke(main, ["modele-declaration", "-o", str(csv_out)])
    assert result.exit_code == 0 and "(CSV)" in result.output
    filled = csv_out.read_bytes() + b"2025-017;2;Dupont;Marie;05/2025;35;0;\r\n"
    parsed = parse_declaration_file(filled, kind="csv", today=dt.date(2025, 6, 16))
    assert [(line.last_name, line.month) for line in parsed.lines] == [("Dupont", dt.date(2025, 5, 1))]


def test_mail_commands_are_registered():
    result = CliRunner().invoke(main, ["mail", "--help"])
    assert result.exit_code == 0 and "relever" in result.output and "envoyer" in result.output


def test_mail_relever_and_envoyer_with_the_embedded_maildirs(tmp_path, monkeypatch):
    import mailbox

    from clausebot.settings import load_settings
    from storage.db import Database
    from storage.models import Base
    from tests import factories
    from tests.mail.conftest import make_mail

    monkeypatch.setenv("CLAUSEBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CLAUSEBOT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    db = Database(settings.effective_database_url)
    Base.metadata.create_all(db.engine)
    with db.session() as s:
        factories.territory(s)
    db.dispose()
    settings.maildir_in.parent.mkdir(parents=True, exist_ok=True)
    mailbox.Maildir(settings.maildir_in, create=True).add(
        make_mail("chef@btp-rhone.test", "Modèle", "Pouvez-vous m'envoyer le modèle de déclaration ?"))
    runner = CliRunner()
    result = runner.invoke(main, ["mail", "relever"])
    assert result.exit_code == 0, result.output
    assert "1 message(s) traité(s) (traite : 1)" in result.output
    result = runner.invoke(main, ["mail", "envoyer"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("1 envoyé(s)")
    [sent] = list((settings.maildir_out / "new").iterdir())
    raw = sent.read_bytes()
    assert b"To: chef@btp-rhone.test" in raw and b"modele-declaration-heures.xlsx" in raw
