"""Attachment safety checks, the declaration template and the spreadsheet parser (no servers)."""

from __future__ import annotations

import datetime as dt
import io
import time
import zipfile
from decimal import Decimal

import openpyxl
import pytest

from mail import declaration_template, safety
from mail.config import MailConfig
from mail.parsing import Attachment
from mail.spreadsheet import _rows_from_xlsx, parse_declaration_file
from storage.documents import sniff_mime
from tests.mail.conftest import PDF_BYTES, xlsx_bytes

TODAY = dt.date(2025, 6, 16)
CFG = MailConfig()


def attachment(name: str, data: bytes, ctype: str = "application/octet-stream") -> Attachment:
    return Attachment(raw_filename=name, filename=name, content_type=ctype, data=data, sniffed=sniff_mime(data))


def zip_bomb_xlsx(size: int = 60 * 1024 * 1024) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", b"0" * size)
    return out.getvalue()


BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    + "]>\n"
)


def entity_bomb_xlsx() -> bytes:
    """A real XLSX whose worksheet declares a billion-laughs DTD."""
    good = xlsx_bytes([["2025-017", 2, "Dupont", "Marie", "03/2025", 10, 0]])
    src = zipfile.ZipFile(io.BytesIO(good))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                text = data.decode()
                text = text.split("?>", 1)[1] if text.startswith("<?xml") else text
                text = BILLION_LAUGHS + text.replace("Dupont", "&lol9;", 1)
                data = text.encode()
            dst.writestr(info, data)
    return out.getvalue()


def encrypted_flag_zip() -> bytes:
    """A zip whose entry has the 'encrypted' flag set (as a password-protected zip would)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("secret.pdf", PDF_BYTES)
    data = bytearray(out.getvalue())
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    data[local + 6] |= 1
    data[central + 8] |= 1
    return bytes(data)


def test_zip_bomb_disguised_as_xlsx_is_hostile():
    bomb = zip_bomb_xlsx()
    assert len(bomb) < 1024 * 1024  # tiny on the wire
    problem = safety.inspect(attachment("heures.xlsx", bomb), CFG)
    assert problem is not None and problem.hostile and problem.code == "zip_bombe"


def test_total_uncompressed_size_is_capped():
    cfg = MailConfig(max_uncompressed_bytes=2 * 1024 * 1024, max_zip_ratio=10_000)
    problem = safety.inspect(attachment("heures.xlsx", zip_bomb_xlsx(3 * 1024 * 1024)), cfg)
    assert problem is not None and problem.hostile


def test_xml_entity_bomb_is_hostile_and_defusedxml_refuses_it_too():
    bomb = entity_bomb_xlsx()
    problem = safety.inspect(attachment("heures.xlsx", bomb), CFG)
    assert problem is not None and problem.hostile and problem.code == "xml_entites"
    # Defence in depth: even without the pre-check, openpyxl parses with defusedxml.
    from defusedxml import DefusedXmlException

    began = time.monotonic()
    with pytest.raises(Exception) as caught:
        _rows_from_xlsx(bomb, 100)
    chain, error = [], caught.value
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    assert any(isinstance(e, DefusedXmlException) for e in chain)
    parsed = parse_declaration_file(bomb, kind="xlsx", today=TODAY)
    assert parsed.fatal is not None and not parsed.lines
    assert time.monotonic() - began < 5


def test_zip_entry_names_with_traversal_are_hostile():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("../../../../tmp/evil.sh", "echo pwned")
    problem = safety.inspect(attachment("heures.xlsx", out.getvalue()), CFG)
    assert problem is not None and problem.hostile and problem.code == "zip_chemin"


def test_password_protected_files_get_a_clear_message():
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512 + "EncryptedPackage".encode("utf-16-le") + b"\x00" * 64
    for att in (attachment("heures.xlsx", ole), attachment("cv.zip", encrypted_flag_zip()),
                attachment("cv.pdf", PDF_BYTES.replace(b"/Root 1 0 R", b"/Root 1 0 R/Encrypt 5 0 R"))):
        problem = safety.inspect(att, CFG)
        assert problem is not None and problem.code == "protege" and not problem.hostile
        assert "mot de passe" in problem.message_fr or "protégé" in problem.message_fr


def test_other_refusals():
    winmail = safety.inspect(attachment("winmail.dat", b"\x78\x9f\x3e\x22" + b"\x00" * 50, "application/ms-tnef"), CFG)
    assert winmail is not None and winmail.code == "winmail" and "Outlook" in winmail.message_fr
    big = safety.inspect(attachment("cv.pdf", PDF_BYTES + b"0" * 2048), MailConfig(max_attachment_bytes=1024))
    assert big is not None and big.code == "trop_volumineux"
    old = safety.inspect(attachment("h.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600), CFG)
    assert old is not None and old.code == "format_ancien"
    corrupt = safety.inspect(attachment("h.xlsx", b"PK\x03\x04" + b"\x00" * 100), CFG)
    assert corrupt is not None and corrupt.code == "zip_illisible"
    assert safety.inspect(attachment("cv.pdf", PDF_BYTES), CFG) is None
    assert safety.inspect(attachment("h.xlsx", xlsx_bytes([])), CFG) is None


# -- template and parser ------------------------------------------------------------------------

def test_template_xlsx_has_the_columns_and_instructions():
    data = declaration_template.build_xlsx()
    assert safety.inspect(attachment("modele.xlsx", data), CFG) is None
    wb = openpyxl.load_workbook(io.BytesIO(data))
    sheet = wb[declaration_template.SHEET_TITLE]
    assert [c.value for c in sheet[1]] == [c.header for c in declaration_template.COLUMNS]
    assert declaration_template.HELP_TITLE in wb.sheetnames
    empty = parse_declaration_file(data, kind="xlsx", today=TODAY)
    assert empty.fatal == "Le fichier ne contient aucune ligne de déclaration."
    # Filled in by a company, it parses.
    sheet.append(["2025-017", 2, "Dupont", "Marie", "05/2025", 151.67, 7])
    buf = io.BytesIO()
    wb.save(buf)
    parsed = parse_declaration_file(buf.getvalue(), kind="xlsx", today=TODAY)
    assert parsed.fatal is None and not parsed.errors
    [line] = parsed.lines
    assert (line.month, line.work_hours, line.training_hours, line.lot_number) == (
        dt.date(2025, 5, 1), Decimal("151.67"), Decimal("7"), 2)


def test_template_csv_round_trip_with_cp1252_and_aliases():
    header = declaration_template.build_csv()
    assert header.startswith("\ufeff".encode()) and b"heures_travail" in header
    csv_text = ("Marché;Lot;Nom;Prénom;Mois;Heures travail;Heures formation\r\n"
                "2025-017;Lot 2;Dupont;Marie;mars 2025;12h30;\r\n"
                "2025-017;2;Dupont;Marie;2025-04;1 234,5;3,5\r\n"
                ";;;;;;\r\n"
                "2025-017;deux;;Marie;13/2025;-;\r\n").encode("cp1252")
    parsed = parse_declaration_file(csv_text, kind="csv", today=TODAY)
    assert parsed.fatal is None
    assert [(line.row, line.month, line.work_hours, line.training_hours) for line in parsed.lines] == [
        (2, dt.date(2025, 3, 1), Decimal("12.50"), Decimal(0)),
        (3, dt.date(2025, 4, 1), Decimal("1234.5"), Decimal("3.5")),
    ]
    [error] = parsed.errors
    assert error.row == 5
    for fragment in ("nom manquant", "Mois non reconnu", "Nombre non reconnu", "lot « deux »"):
        assert fragment in error.message_fr


def test_xlsx_date_cells_and_missing_columns():
    data = xlsx_bytes([["2025-017", 2, "Dupont", "Marie", dt.datetime(2025, 4, 1), 10, None]])
    parsed = parse_declaration_file(data, kind="xlsx", today=TODAY)
    assert parsed.lines[0].month == dt.date(2025, 4, 1)
    wrong = xlsx_bytes([["x", "y"]], header=["nom", "quantite"])
    assert "mois" in (parse_declaration_file(wrong, kind="xlsx", today=TODAY).fatal or "")
    garbage = parse_declaration_file(b"PK\x03\x04not really", kind="xlsx", today=TODAY)
    assert garbage.fatal is not None


def test_too_many_rows_is_refused_as_a_whole():
    rows = "\r\n".join(f"2025-017;2;Dupont;Marie;03/2025;{i % 10}" for i in range(30))
    data = ("marche;lot;nom;prenom;mois;heures_travail\r\n" + rows).encode()
    parsed = parse_declaration_file(data, kind="csv", today=TODAY, max_rows=20)
    assert parsed.fatal is not None and "20 lignes" in parsed.fatal and not parsed.lines


def test_names_with_decomposed_accents_are_read_composed():
    """A CSV saved on a Mac writes « è » as « e » + a combining accent: it must still match."""
    import unicodedata

    nfd = unicodedata.normalize("NFD", "Lefèvre")
    data = f"marche;lot;nom;prenom;mois;heures_travail\n2025-017;2;{nfd};Hélène;03/2025;10\n"
    parsed = parse_declaration_file(data.encode("utf-8"), kind="csv", today=dt.date(2025, 6, 16))
    assert [line.last_name for line in parsed.lines] == ["Lefèvre"]
    assert parsed.lines[0].last_name == unicodedata.normalize("NFC", "Lefèvre")
