"""The acknowledgement of a long declaration file: a summary by month and the lines to look at.

Every refused line is always listed; recorded lines are listed one by one up to
``ACK_DETAIL_LINES``, beyond which only those with a remark are.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from mail.handlers import ACK_DETAIL_LINES, STATUS_FR, _ack_detail
from mail.render import render


def _line(row: int, month: int, *, status: str = "created", warnings=()) -> dict:
    return {"row": row, "name": f"NOM{row} Prénom", "month": dt.date(2025, month, 1),
            "work": Decimal("10"), "training": Decimal("0"), "counted": Decimal("10"),
            "status": STATUS_FR[status], "warnings": list(warnings), "declaration_id": row}


def _reply(recorded, errors=()):
    return render("declaration_ack", recorded=recorded, **_ack_detail(recorded),
                  errors=list(errors), error_count=len(errors), file_errors=[], files=["h.xlsx"],
                  template_attached=False, agency_name="Agence test")


def test_a_short_file_lists_every_line():
    recorded = [_line(i, 3) for i in range(2, 2 + ACK_DETAIL_LINES)]
    text = _reply(recorded).text
    assert all(f"ligne {i} :" in text for i in range(2, 2 + ACK_DETAIL_LINES))
    assert "Lignes à regarder" not in text


def test_a_long_file_is_summed_up_by_month_with_the_lines_that_deserve_a_look():
    recorded = [_line(i, 3 if i % 2 else 4) for i in range(2, 1502)]
    recorded[10] = _line(12, 4, status="corrected")
    recorded[20] = _line(22, 4, warnings=["plus qu'un temps plein"])
    errors = [{"filename": None, "row": 1600, "message": "personne inconnue"}]
    reply = _reply(recorded, errors)
    text, html = reply.text, reply.html
    assert "Lignes enregistrées (1500)" in text
    assert "mars 2025 : 750 ligne(s), 7 500 h de travail" in text.replace("\u202f", " ").replace("\xa0", " ")
    assert "Lignes à regarder (2 ; les 1498 autres sont enregistrées sans remarque)" in text
    assert "ligne 12 :" in text and "ligne 22 :" in text and "ligne 13 :" not in text
    assert "ligne 1600 : personne inconnue" in text  # refused lines: always all of them
    assert "ligne 1600" in html and "Lignes à regarder" in html and html.count("<tr>") < 20
    assert len(text) < 3000


def test_a_file_sent_again_is_summed_up_not_listed_line_by_line():
    recorded = [_line(i, 3, status="unchanged") for i in range(2, 2002)]
    text = _reply(recorded).text
    assert "Toutes ces lignes sont enregistrées sans remarque." in text
    assert "Dont 2000 ligne(s) déjà enregistrée(s) à l'identique" in text
    assert "ligne 2 :" not in text and len(text) < 2000


def test_many_lines_to_look_at_are_capped():
    recorded = [_line(i, 3, warnings=["plus qu'un temps plein"]) for i in range(2, 302)]
    detail = _ack_detail(recorded)
    assert (detail["notable"], len(detail["shown"])) == (300, ACK_DETAIL_LINES)
    assert f"Lignes à regarder (300 ; les 0 autres sont enregistrées sans remarque), les {ACK_DETAIL_LINES} premières :" in _reply(recorded).text
