"""Unit rules of the history import: grouping by person, chunks of whole persons."""

from __future__ import annotations

from clauses.history.loading import chunks, group_persons
from clauses.history.reading import HistoryRow


def row(line: int, last: str, birth: str, start: str = "03/03/2025") -> HistoryRow:
    return HistoryRow(line, {"nom": last, "prenom": "Léa", "date_de_naissance": birth,
                             "marche": "2025-017", "lot": "1", "debut": start})


def test_namesakes_with_other_birth_dates_on_other_contracts_are_two_persons() -> None:
    persons, errors = group_persons([row(2, "Durand", "01/01/1990"),
                                     row(3, "DURAND", "02/02/1992", start="01/06/2025")])
    assert errors == []
    assert [(p.birth_date.year, [r.line for r in p.rows]) for p in persons] == [(1990, [2]), (1992, [3])]


def test_same_name_same_contract_two_birth_dates_is_refused_on_the_second_line() -> None:
    persons, errors = group_persons([row(2, "Durand", "01/01/1990"), row(3, "durand", "02/02/1992")])
    assert [line for line, _ in errors] == [3]
    assert "deux dates de naissance" in errors[0][1]
    assert len(persons) == 1


def test_chunks_never_split_a_person() -> None:
    rows = [row(n + 2, f"P{n // 3}", "01/01/1990") for n in range(30)]  # 10 persons x 3 rows
    persons, _ = group_persons(rows)
    batches = list(chunks(persons, size=4))
    assert [sum(len(p.rows) for p in b) for b in batches] == [6, 6, 6, 6, 6]
    assert sum(len(b) for b in batches) == 10
