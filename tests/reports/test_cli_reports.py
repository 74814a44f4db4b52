"""`clausebot bilan` and `clausebot point` through click's CliRunner, on a real database."""

from __future__ import annotations

import email
import io
from email import policy
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from pypdf import PdfReader

from clausebot.cli import main
from tests.reports import territory as T


@pytest.fixture
def cli_env(db, tmp_path: Path, monkeypatch) -> Path:
    """The fixture territory in the test database, and the CLI pointed at it."""
    with db.session() as s:
        T.build(s)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("CLAUSEBOT_DATABASE_URL", db.url)
    monkeypatch.setenv("CLAUSEBOT_DATA_DIR", str(data_dir))
    monkeypatch.delenv("CLAUSEBOT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray ./clausebot.toml
    return tmp_path


def _run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_bilan_writes_every_format(cli_env: Path):
    out = cli_env / "bilans"
    result = _run("bilan", "--donneur", "givors", "--annee", "2025",
                  "--format", "html,txt,xlsx,pdf,eml", "--out", str(out))
    assert result.exit_code == 0, result.output
    files = {p.suffix: p for p in out.iterdir()}
    assert set(files) == {".html", ".txt", ".xlsx", ".pdf", ".eml"}
    assert all(p.stem == "bilan-annuel-2025-ville-de-givors" for p in files.values())
    assert str(files[".pdf"]) in result.output
    html = files[".html"].read_text(encoding="utf-8")
    assert "1 827,84 h" in html and "data:image/png;base64," in html
    wb = load_workbook(files[".xlsx"])
    synth = [c.value for c in wb["Synthèse"]["A"][:6]]
    assert synth[0] == "Agence clauses sociales"  # the agency heads its document
    assert "Bilan annuel 2025" in synth
    pdf_text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(
        files[".pdf"].read_bytes())).pages)
    assert "Ville de Givors" in pdf_text
    message = email.message_from_bytes(files[".eml"].read_bytes(), policy=policy.default)
    assert message["To"] == "referent.givors@donneur.test"
    assert {a.get_filename() for a in message.iter_attachments()} == {
        "bilan-annuel-2025-ville-de-givors.xlsx", "bilan-annuel-2025-ville-de-givors.pdf"}
    assert not list(out.glob(".*.tmp"))  # atomic writes leave no temporary file


def test_bilan_without_out_prints_the_summary(cli_env: Path):
    result = _run("bilan", "--territoire", "--du", "01/01/2025", "--au", "31/12/2025")
    assert result.exit_code == 0, result.output
    assert "Bilan du territoire 2025" in result.output
    assert "2 168,34 h" in result.output


def test_point_prints_chat_text_or_writes_files(cli_env: Path):
    result = _run("point", "--marche", "giv-2025-01", "--date", "16/06/2025",
                  "--audience", "interne")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Point d'étape au 16/06/2025 — marché GIV-2025-01")
    assert "736,92 h" in result.output  # months complete on 16/06: through May
    out = cli_env / "points"
    result = _run("point", "--marche", "GIV-2025-01", "--date", "31/12/2025", "--out", str(out),
                  "--format", "xlsx")
    assert result.exit_code == 0, result.output
    (written,) = out.iterdir()
    assert written.name == "bilan-final-synthetique-marche-giv-2025-01.xlsx"


@pytest.mark.parametrize(("args", "expected"), [
    (("bilan", "--donneur", "Ville de Givros", "--annee", "2025"),
     "Donneur d'ordre inconnu : « Ville de Givros ». Vouliez-vous dire : « Ville de Givors »"),
    (("bilan", "--donneur", "Zzz", "--annee", "2025"), "Exemples enregistrés"),
    (("point", "--marche", "GIV-2025-1"), "Marché inconnu : « GIV-2025-1 »"),
    (("point", "--marche", "GIV-2025-01", "--date", "31/02/2025"), "Date invalide pour --date"),
    (("bilan", "--donneur", "givors", "--annee", "2025", "--out", "x", "--format", "docx"),
     "Format inconnu : docx"),
    (("bilan", "--annee", "2025"), "soit --donneur NOM, soit --territoire"),
    (("bilan", "--territoire", "--du", "31/12/2025", "--au", "01/01/2025"), "Période invalide"),
])
def test_errors_are_french_with_exit_code_1(cli_env: Path, args, expected):
    result = _run(*args)
    assert result.exit_code == 1
    assert expected in result.output


def test_help_is_french_with_an_example():
    for command in ("bilan", "point"):
        result = CliRunner().invoke(main, [command, "--help"])
        assert result.exit_code == 0
        assert "Exemple" in result.output and f"clausebot {command} --" in result.output


def test_uninitialised_database_is_explained(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("CLAUSEBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CLAUSEBOT_DATABASE_URL", raising=False)
    monkeypatch.delenv("CLAUSEBOT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    result = _run("point", "--marche", "X")
    assert result.exit_code == 1
    assert "clausebot db upgrade" in result.output
