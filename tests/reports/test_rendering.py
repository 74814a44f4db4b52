"""Rendering of the bilans, read back with the tools a reader would use.

XLSX with openpyxl (real numbers, number formats), PDF text with pypdf, HTML with BeautifulSoup
(figures present, every image referenced by cid and shipped), the MIME message with the standard
library; small-cell masking for external audiences.
"""

from __future__ import annotations

import datetime as dt
import email
import io
from email import policy

import pytest
from bs4 import BeautifulSoup
from openpyxl import load_workbook
from pypdf import PdfReader

from clauses.bilan import annual_figures, market_figures, territory_figures
from reports import build_message, render_chat, render_html, render_pdf, render_xlsx
from reports.disclosure import WITHHELD_TEXT
from reports.view import PROTECTED_STATUS_LABEL, build_view
from reports.xlsx import sheet_name
from tests.reports import territory as T

Y0, Y1 = dt.date(2025, 1, 1), dt.date(2025, 12, 31)
PNG = b"\x89PNG\r\n\x1a\n"
TODAY = dt.date(2026, 1, 20)


@pytest.fixture
def figures(db, rulebook):
    with db.session() as s:
        built = T.build(s)
    with db.session() as s:
        return {
            "annual": annual_figures(s, built.donneurs["givors"], Y0, Y1, rulebook),
            "point": market_figures(s, built.markets["GIV-2025-01"], dt.date(2025, 6, 16),
                                    rulebook),
            "territory": territory_figures(s, Y0, Y1, rulebook),
        }


def _sheet_rows(ws) -> dict[str, list]:
    """First-column label -> the row's cells (openpyxl cell objects)."""
    return {row[0].value: list(row) for row in ws.iter_rows(min_row=1) if row[0].value}


def test_html_email_is_phone_readable_with_cid_images(figures):
    f = figures["annual"]
    mail = render_html(f, "externe", generated_on=TODAY, agency_name="MMI'e")
    assert mail.subject == "Bilan annuel 2025 — Ville de Givors"
    soup = BeautifulSoup(mail.html, "html.parser")
    assert soup.find("meta", attrs={"name": "viewport"}) is not None
    assert soup.find("style") is None  # inline CSS only: mail clients drop <style>
    text = soup.get_text(" ")
    for expected in ("1 827,84 h", "2 000 h", "Bâti Sud", "Sous procédure", "En retard",
                     "Emploi durable", "Partenariat constructif avec la Ville.", "20/01/2026",
                     "MMI'e"):
        assert expected in text, expected
    cids = {img["src"].removeprefix("cid:") for img in soup.find_all("img")}
    assert all(img["src"].startswith("cid:") for img in soup.find_all("img"))
    # 4 persons: ages 1+1+1+1, QPV 2+2 and statuses 1+1+1+1 would be pinned by the total
    # whatever the masking, so those tables (and their charts) are withheld (reports.disclosure)
    assert cids == {cid for cid, _ in mail.images} == {
        "heures-par-mois", "heures-par-entreprise", "typologie-genre"}
    assert all(png.startswith(PNG) for _, png in mail.images)
    assert all(img.get("alt") for img in soup.find_all("img"))
    # plain-text alternative carries the same figures
    assert "1 827,84 h" in mail.text and "Bâti Sud" in mail.text
    assert "<" not in mail.text.replace("< 3", "")
    # a browser copy has the images inline
    inline = mail.html_with_data_uris()
    assert "cid:" not in inline and "data:image/png;base64," in inline


def test_small_cells_are_masked_only_for_external_readers(figures):
    f = figures["annual"]
    ext = build_view(f, "externe")
    internal = build_view(f, "interne")
    ages_ext = {r[0].text: r[1] for r in next(t for t in ext.tables if t.key == "Âge").rows}
    ages_int = {r[0].text: r[1] for r in next(t for t in internal.tables if t.key == "Âge").rows}
    # four persons in four age bands: « < 3 » × 4 with a total of 4 says 1 each, so withheld
    assert list(ages_ext) == [WITHHELD_TEXT] and "Moins de 26 ans" not in ages_ext
    assert ages_int["Moins de 26 ans"].text == "1"
    genders = {r[0].text: r[1] for r in next(t for t in ext.tables if t.key == "Genre").rows}
    assert [c.text for c in genders.values()] == ["< 3", "< 3", "< 3"]  # 1 + 2 + 1: not pinned
    total = next(t for t in ext.tables if t.key == "Âge").total
    assert total is not None and total[1].text == "4"  # totals stay exact
    communes = {r[0].text: r[1].text
                for r in next(t for t in ext.tables if t.key == "Commune").rows}
    assert communes["Givors"] == "< 3"  # 2 persons
    # sensitive statuses merged into one row for external readers only
    status_ext = [r[0].text for r in next(t for t in ext.tables if t.key == "Statut à l'entrée").rows]
    status_int = [r[0].text for r in next(
        t for t in internal.tables if t.key == "Statut à l'entrée").rows]
    assert status_ext == [WITHHELD_TEXT]  # 1 + 1 + 1 + 1 of 4 persons: pinned, withheld
    assert PROTECTED_STATUS_LABEL not in status_int
    assert "RQTH" in status_int
    # the threshold is the policy's: with 2, only single persons are hidden
    two = build_view(f, "externe", small_cell_threshold=2)
    communes2 = {r[0].text: r[1].text
                 for r in next(t for t in two.tables if t.key == "Commune").rows}
    assert communes2["Givors"] == "2" and communes2["Grigny"] == "< 2"
    # hours are never masked
    hours = [c.text for t in ext.tables for row in t.rows for c in row if c.fmt == "hours"]
    assert "< 3" not in hours
    with pytest.raises(ValueError):
        build_view(f, "public")
    html_ext = BeautifulSoup(render_html(f, "externe").html, "html.parser").get_text(" ")
    html_int = BeautifulSoup(render_html(f, "interne").html, "html.parser").get_text(" ")
    assert "< 3" in html_ext and "Secret statistique" in html_ext
    assert "< 3" not in html_int and "Document interne" in html_int


def test_xlsx_has_real_numbers_formats_and_one_sheet_per_table(figures):
    f = figures["annual"]
    wb = load_workbook(io.BytesIO(render_xlsx(f, "externe", generated_on=TODAY)))
    assert wb.sheetnames[0] == "Synthèse"
    for name in ("Heures par mois", "Entreprises", "Marchés", "Âge", "Genre", "Commune", "QPV",
                 "Statut à l'entrée", "Types de contrat", "Sorties", "Notes", "Modalités"):
        assert name in wb.sheetnames, name
    synth = _sheet_rows(wb["Synthèse"])
    hours = synth["Heures réalisées en 2025"][1]
    assert hours.value == pytest.approx(1827.84) and isinstance(hours.value, float)
    assert hours.number_format == '#,##0.00" h"'
    persons = synth["Personnes (comptées une fois)"][1]
    assert persons.value == 4 and persons.number_format == "#,##0"
    # each engagement counts up to what it owes: BTP Alpha's 847,42 h on a 400 h lot do not
    # hide Bâti Sud's shortfall; the reserved market is not in the clause rate
    rate = synth["Taux de réalisation des engagements au 31/12/2025"][1]
    assert rate.value == pytest.approx((340.75 + 400 + 401.67) / 1800, abs=1e-3)
    assert rate.number_format == "0.0%"
    over = next(row for label, row in synth.items() if label.strip().startswith("Heures au-delà"))
    assert over[1].value == pytest.approx(447.42)

    companies = _sheet_rows(wb["Entreprises"])
    alpha = companies["BTP Alpha"]
    assert [c.value for c in alpha[2:4]] == [pytest.approx(1000), pytest.approx(1249.09)]
    assert alpha[6].value == pytest.approx((400 + 401.67) / 1000, abs=1e-3)  # capped per lot
    assert alpha[7].value == pytest.approx(447.42)  # beyond its 400 h lot, shown apart
    # 3 contracts and 2 persons: the 2 would make the hours two persons' own, masked with the 3
    assert alpha[8].value == "(s)" and alpha[9].value == "< 3"
    assert alpha[10].value == "En retard"
    total = companies["Total"]
    assert total[9].value == 4  # distinct persons, not the sum of the column

    months = wb["Heures par mois"]
    first = months.cell(row=5, column=1)
    assert first.value.date() == dt.date(2025, 1, 1) and first.number_format == "MM/YYYY"
    assert months.cell(row=5, column=2).value == pytest.approx(90)

    ages = _sheet_rows(wb["Âge"])
    assert "Moins de 26 ans" not in ages and WITHHELD_TEXT in ages  # pinned by the total
    assert ages["Total"][1].value == 4
    notes = wb["Notes"]
    assert notes.cell(row=2, column=1).number_format == "DD/MM/YYYY"

    internal = load_workbook(io.BytesIO(render_xlsx(f, "interne")))
    ages_int = _sheet_rows(internal["Âge"])
    assert ages_int["Moins de 26 ans"][1].value == 1
    # per engagement: the year's hours and the rate, in the buyer's file too
    lots = wb["Lots"]
    header = [c.value for c in lots[4]]
    assert "Réalisées en 2025" in header and "Taux" in header
    alpha_lot1 = _sheet_rows(lots)["GIV-2025-01 · lot 1"]
    assert alpha_lot1[header.index("Réalisées en 2025")].value == pytest.approx(847.42)
    assert alpha_lot1[header.index("Taux")].value == pytest.approx(847.42 / 400, abs=1e-3)


def test_sheet_names_are_valid_and_unique():
    taken: set[str] = set()
    assert sheet_name("Types de contrat", taken) == "Types de contrat"
    assert sheet_name("Types de contrat", taken) == "Types de contrat (2)"
    long = sheet_name("A/very:long*name?with[bad]chars and more text", taken)
    assert len(long) <= 31 and not set("[]:*?/\\") & set(long)


def test_pdf_text_has_the_figures(figures):
    f = figures["annual"]
    pdf = render_pdf(f, "externe", generated_on=TODAY)
    assert pdf.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(pdf))
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    for expected in ("Bilan annuel 2025", "Ville de Givors", "1 827,84 h", "BTP Alpha",
                     "Régie Quartiers EI", "Page 1 /", "< 3"):
        assert expected in text, expected
    assert len(reader.pages) >= 2


def test_point_d_etape_renders_lots_and_chat(figures):
    f = figures["point"]
    mail = render_html(f, "interne")
    assert mail.subject == "Point d'étape au 16/06/2025 — marché GIV-2025-01"
    text = BeautifulSoup(mail.html, "html.parser").get_text(" ")
    assert "Réalisation par engagement (lot et entreprise)" in text and "31/05/2025" in text
    chat = render_chat(f, "interne")
    assert chat.splitlines()[0] == mail.subject
    # June is not over on 16/06: the point counts through 31/05, and says so once
    assert "736,92 h" in chat and "Lot 2 · Bâti Sud" in chat and "en retard" in chat
    assert "Chiffres au 31/05/2025 : dernier mois complet au 16/06/2025" in chat
    assert chat.count("Point d'étape") == 1
    assert len(chat) < 1000


def test_chat_and_territory(figures):
    annual = render_chat(figures["annual"], "externe")
    assert "4 marchés" in annual and "1 827,84 h" in annual
    assert "Bâti Sud" in annual and "sous procédure" in annual
    territory = figures["territory"]
    chat = render_chat(territory)
    assert "2 168,34 h" in chat and "6 personnes" in chat and "2 donneurs" in chat
    view = build_view(territory, "externe")
    donneurs = next(t for t in view.tables if t.key == "Donneurs d'ordre")
    assert [r[0].text for r in donneurs.rows] == ["Métropole de Lyon", "Ville de Givors"]
    assert donneurs.total is not None and donneurs.total[5].text == "6"
    wb = load_workbook(io.BytesIO(render_xlsx(territory, "interne")))
    assert "Donneurs d'ordre" in wb.sheetnames


def test_mime_message_relates_images_to_the_html(figures):
    mail = render_html(figures["annual"], "externe")
    xlsx = render_xlsx(figures["annual"], "externe")
    msg = build_message(mail, sender="clauses@agence.test", recipients=["ref@ville.test"],
                        attachments=[("bilan.xlsx", xlsx)])
    parsed = email.message_from_bytes(bytes(msg), policy=policy.default)
    assert parsed["Subject"] == mail.subject
    related = next(p for p in parsed.walk() if p.get_content_type() == "multipart/related")
    cids = {p["Content-ID"] for p in related.iter_parts() if p.get_content_type() == "image/png"}
    assert cids == {f"<{cid}>" for cid, _ in mail.images}
    body = parsed.get_body(preferencelist=("plain",))
    assert body is not None and "1 827,84 h" in body.get_content()
    attachment = next(parsed.iter_attachments())
    assert attachment.get_filename() == "bilan.xlsx"
    assert attachment.get_content() == xlsx


def test_a_bilan_without_any_activity_still_renders(db, rulebook):
    with db.session() as s:
        built = T.build(s)
    with db.session() as s:
        f = annual_figures(s, built.donneurs["lmh"], Y0, Y1, rulebook)  # its market is in 2026
    assert (f.markets.total, f.hours_counted, f.persons, f.contracts) == (0, 0, 0, 0)
    assert f.completion is None and f.companies == [] and f.hours_by_month == []
    mail = render_html(f, "externe")
    assert mail.images == []
    assert "Aucune donnée sur la période." in BeautifulSoup(mail.html, "html.parser").get_text()
    wb = load_workbook(io.BytesIO(render_xlsx(f, "externe")))
    assert _sheet_rows(wb["Synthèse"])["Personnes (comptées une fois)"][1].value == 0
    assert render_pdf(f, "externe").startswith(b"%PDF")
    assert "0 personne" in render_chat(f)
