"""The documents themselves: formula-safe spreadsheet text, PDF tables that keep their header
with their rows, the agency's identity, charts.

Unit tests of rendering rules on figures built with the fixture territory (the journey in
test_bilan_journey.py checks the same documents from an empty database).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
import struct
import zlib
from decimal import Decimal
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from openpyxl import load_workbook
from pypdf import PdfReader

from clauses.bilan import annual_figures
from clauses.bilan.figures import CompanyLine, EngagementLine, RelationStatus
from clauses.context import AgencyIdentity
from clauses.spreadsheet_safety import DANGEROUS_PREFIXES, formula_safe
from reports.html import render_html
from reports.pdf import render_pdf
from reports.view import build_view
from reports.xlsx import render_xlsx
from tests.reports import territory as T

Y0, Y1 = dt.date(2025, 1, 1), dt.date(2025, 12, 31)


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_formula_safe_neutralises_each_prefix(prefix):
    text = f"{prefix}HYPERLINK(\"http://evil.example\")"
    assert formula_safe(text) == "'" + text
    assert prefix in DANGEROUS_PREFIXES


@pytest.mark.parametrize("text", ["Ville de Givors", "’=pas en tête", " =espace", "", "12 h",
                                  "–"])
def test_formula_safe_leaves_ordinary_text_alone(text):
    assert formula_safe(text) == text


@pytest.fixture
def figures(db, rulebook):
    with db.session() as s:
        built = T.build(s)
    with db.session() as s:
        return annual_figures(s, built.donneurs["givors"], Y0, Y1, rulebook)


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_no_text_cell_of_the_bilan_workbook_is_a_formula(figures, prefix):
    """A company, a market and a donneur named with each dangerous prefix: every sheet, every
    cell (tables, headings, notes, synthesis) comes out as inert text."""
    evil = f"{prefix}cmd|' /C calc'!A0"
    f = dataclasses.replace(
        figures, donneur_name=evil,
        companies=[dataclasses.replace(c, name=evil + c.name) for c in figures.companies],
        engagements=[dataclasses.replace(e, company_name=evil, lot_label=evil)
                     for e in figures.engagements],
        market_lines=[dataclasses.replace(m, title=evil, donneur_name=evil)
                      for m in figures.market_lines],
        notes=[dataclasses.replace(n, about=evil, body=evil) for n in figures.notes],
        synthesis=[dataclasses.replace(n, body=evil) for n in figures.synthesis],
    )
    wb = load_workbook(io.BytesIO(render_xlsx(f, "interne")))
    seen = 0
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate)
                if isinstance(cell.value, str) and "cmd|" in cell.value:
                    seen += 1
                    assert not cell.value.lstrip(" ").startswith(DANGEROUS_PREFIXES), (
                        ws.title, cell.coordinate)
    assert seen >= 7  # the cells of the issue (donneur, titles, companies) and more


def _png(width: int = 4, height: int = 2) -> bytes:
    raw = b"".join(b"\x00" + b"\x1f\x4e\x79" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                                0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_agency_identity_heads_every_document(figures, tmp_path: Path):
    logo = tmp_path / "logo.png"
    logo.write_bytes(_png())
    agency = AgencyIdentity(name="Maison de l'Emploi Rhône", address="1 place Bellecour; 69002 Lyon",
                            logo_file=str(logo), convention_reference="Convention n° 2025-14",
                            signature="Pour l'agence, le service Clauses")
    mail = render_html(figures, agency=agency)
    assert ("logo-agence", logo.read_bytes()) in mail.images
    assert 'src="cid:logo-agence"' in mail.html
    assert "Maison de l'Emploi Rhône" in mail.text and "69002 Lyon" in mail.text
    body = " ".join(BeautifulSoup(mail.html, "html.parser").body.get_text(" ").split())
    assert "Convention n° 2025-14" in body and "Pour l'agence, le service Clauses" in body
    pdf = PdfReader(io.BytesIO(render_pdf(figures, agency=agency)))
    first = " ".join(pdf.pages[0].extract_text().split())
    assert "Maison de l'Emploi Rhône" in first and "1 place Bellecour" in first
    assert len(pdf.pages[0].images) >= 1  # the logo (charts come later)
    wb = load_workbook(io.BytesIO(render_xlsx(figures, agency=agency)))
    assert wb["Synthèse"]["A1"].value == "Maison de l'Emploi Rhône"
    # a logo that cannot be read is left out, the bilan is still made
    broken = dataclasses.replace(agency, logo_file=str(tmp_path / "absent.png"))
    assert build_view(figures, agency=broken).agency.logo_data_uri is None


def _long_figures(figures, companies: int):
    """The territory's figures with many companies and engagements: tables that span pages."""
    base_c = figures.companies[0]
    base_e = figures.engagements[0]
    cs = [dataclasses.replace(base_c, company_id=1000 + i, name=f"Société{i:03d}",
                              relation=RelationStatus.A_JOUR) for i in range(companies)]
    es = [dataclasses.replace(base_e, engagement_id=1000 + i, company_id=1000 + i,
                              company_name=f"Titulaire{i:03d}", lot_number=i + 1,
                              hours_owed=Decimal(100 + i))
          for i in range(companies)]
    return dataclasses.replace(figures, companies=cs, engagements=es)


TABLES = {"Réalisation par entreprise": re.compile(r"Société(\d{3})"),
          "Réalisation par engagement": re.compile(r"Titulaire(\d{3})")}


@pytest.mark.parametrize("companies", [14, 18, 22, 26, 30, 34, 38, 42])
def test_pdf_tables_never_strand_a_header_or_a_single_row(figures, companies):
    """Read each page back: a page holding any row of a table holds at least two of them (no
    lone row carried over, no header left with one row), and a table's title is never the last
    thing of a page (its first rows follow it on the same page)."""
    f = _long_figures(figures, companies)
    reader = PdfReader(io.BytesIO(render_pdf(f, "interne")))
    pages = [p.extract_text() for p in reader.pages]
    spans = {title: [] for title in TABLES}
    for number, text in enumerate(pages, start=1):
        for title, row in TABLES.items():
            rows = sorted({int(n) for n in row.findall(text)})
            if rows:
                spans[title].append((number, rows))
                assert len(rows) >= 2, f"page {number}: one row of « {title} » alone: {rows}"
            if title in text:
                assert row.search(text.split(title, 1)[1]), (
                    f"page {number}: « {title} » ends the page without its rows")
    for title, found in spans.items():
        # every row printed once, in order, across the pages
        printed = [r for _, rows in found for r in rows]
        assert printed == list(range(companies)), title
        for number, _rows in found[1:]:  # the header is repeated on each continuation page
            text = pages[number - 1]
            first_row = TABLES[title].search(text)
            assert first_row and "Heures dues" in text[:first_row.start()], (title, number)


def test_typology_charts_show_masked_cells_without_a_bar(figures):
    from reports.charts import build_charts

    view = build_view(figures, "externe")
    charts = {c.cid: c for c in build_charts(figures, view)}
    # ages, QPV and statuses of these 4 persons are withheld (the total pins them): no chart
    assert "typologie-genre" in charts and "typologie-age" not in charts
    gender = charts["typologie-genre"]
    assert "< 3" in gender.alt and gender.png.startswith(b"\x89PNG")
    mail = render_html(figures, "externe")
    assert 'src="cid:typologie-genre"' in mail.html


def test_companies_rate_never_offsets_between_engagements():
    """One company, two lots: 300 h done on a 100 h lot and 0 on a 200 h lot is 33 %, not
    100 %."""
    from reports.view import _by_company

    def line(i: int, owed: int, done: int) -> EngagementLine:
        return EngagementLine(
            engagement_id=i, market_id=1, market_reference="M", lot_number=i, lot_label="L",
            company_id=7, company_name="C", means="embauche_directe", hours_owed=Decimal(owed),
            hours_period=Decimal(done), hours_to_date=Decimal(done),
            hours_at_cutoff=Decimal(done), hours_expected=Decimal(0), contracts=0, persons=0,
            progress="a_jour", progress_label="à jour", relation=RelationStatus.A_JOUR)

    credited, over = _by_company([line(1, 100, 300), line(2, 200, 0)])[7]
    assert (credited, over) == (Decimal(100), Decimal(200))
    assert CompanyLine  # the table row type the credited hours go with


def test_six_month_follow_up_is_read_from_the_exit_followups(db, rulebook):
    """The six-month follow-up comes from ``exit_followups`` (kind suivi_6_mois), counted in
    SQL: none answered gives 0 persons followed; answered ones are counted by situation, one
    per person (the latest), and an unanswered question counts for nothing."""
    from sqlalchemy import select

    from storage.models import Contract, Engagement, ExitFollowup, Lot, Market, Participant

    with db.session() as s:
        built = T.build(s)
    with db.session() as s:
        without = annual_figures(s, built.donneurs["givors"], Y0, Y1, rulebook)
    assert without.followups == []
    results = next(t for t in build_view(without, "interne").tables
                   if t.key == "Résultats personnes")
    assert results.note is None
    assert [c.value for c in results.rows[-2]][:2] == ["Personnes suivies 6 mois après la sortie", 0]

    with db.session() as s:
        exited = s.execute(
            select(Participant.id, Contract.id)
            .join(Contract, Contract.participant_id == Participant.id)
            .join(Engagement, Engagement.id == Contract.engagement_id)
            .join(Lot, Lot.id == Engagement.lot_id).join(Market, Market.id == Lot.market_id)
            .where(Participant.exit_situation.is_not(None),
                   Market.donneur_id == built.donneurs["givors"])
            .order_by(Participant.id, Contract.id)).all()
        people = list(dict(exited).items())
        assert len(people) >= 3
        (p1, c1), (p2, c2), (p3, c3) = people[:3]
        s.add_all([
            ExitFollowup(participant_id=p1, contract_id=c1, kind="suivi_6_mois", situation="cdi"),
            ExitFollowup(participant_id=p2, contract_id=c2, kind="suivi_6_mois", situation="cdi"),
            ExitFollowup(participant_id=p3, contract_id=c3, kind="suivi_6_mois", situation=None),
            ExitFollowup(participant_id=p3, contract_id=c3, kind="sortie", situation="cdd_6_mois"),
        ])
    with db.session() as s:
        with_data = annual_figures(s, built.donneurs["givors"], Y0, Y1, rulebook)
    assert [(r.key, r.count) for r in with_data.followups] == [("cdi", 2)]
    view = build_view(with_data, "interne")
    assert any(t.key == "Suivi à 6 mois" and t.rows for t in view.tables)
