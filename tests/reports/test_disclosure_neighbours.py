"""Neighbouring tables of the fixture territory (8 persons, exits, pooled hours): a figure that
sums masked cells of another table is masked with them, and every additive table resists the
subtraction attack — in the annual bilan, the point d'étape and the territory bilan."""

from __future__ import annotations

import dataclasses

from clauses.bilan.figures import CountRow, ExitCategoryRow
from reports.disclosure import WITHHELD_TEXT
from reports.view import Table, build_view
from tests.reports.attack import possible_values
from tests.reports.test_rendering import figures  # noqa: F401 - the shared fixture

ADDITIVE = ("Âge", "Genre", "Commune", "QPV", "Statut à l'entrée", "Suivi à 6 mois")


def _shown(table: Table) -> list:
    return [r[1].text if r[1].masked else r[1].value for r in table.rows]


def test_no_additive_table_and_no_derived_figure_gives_a_masked_cell_away(figures):  # noqa: F811
    for name, fig in figures.items():
        view = build_view(fig, "externe")
        tables = {t.key: t for t in view.tables}
        for key in ADDITIVE:
            table = tables.get(key)
            if table is None or table.rows[0][0].value == WITHHELD_TEXT:
                continue
            assert table.total is not None
            for values in possible_values(_shown(table), int(table.total[1].value)).values():
                assert len(values) >= 2, (name, key, _shown(table))
        exits = tables["Sorties"]
        categories = {r[0].value: r[1] for r in exits.rows if r[0].bold}
        results = {r[0].value: r[1] for r in tables["Résultats personnes"].rows}
        durable = categories.get("Emploi durable")
        if durable is not None and durable.masked:
            assert results["dont emploi durable"].masked, name
        if any(c.masked for c in categories.values()):
            dyn = "dont sorties dynamiques (emploi durable, de transition, sortie positive)"
            assert results[dyn].masked or not any(
                categories[k].masked for k in categories
                if k in ("Emploi durable", "Emploi de transition", "Sortie positive")), name
        types = tables["Types de contrat"]
        masked_types = [r for r in types.rows if r[1].masked or r[2].masked]
        assert all(r[3].masked for r in masked_types), name  # hours go with the counts
        assert len(masked_types) != 1, name  # never one row alone beside the exact hours total
        if any(r[4].value == "oui" for r in masked_types):
            assert results["Contrats d'emploi durable"].masked, name
        for key in ("Entreprises", "Marchés", "Donneurs d'ordre"):
            table = tables.get(key)
            for row in table.rows if table else []:
                persons = row[-2] if key == "Entreprises" else row[-1]
                assert persons.masked or not 0 < int(persons.value or 0) < 3, (name, key)
        # the facilitator's copy has nothing masked or withheld
        internal = build_view(fig, "interne")
        assert not internal.masked
        assert all(t.rows[0][0].value != WITHHELD_TEXT for t in internal.tables if t.rows)


def test_exit_situations_pinned_by_their_category_are_withheld(figures):  # noqa: F811
    """4 exits in « Emploi durable », 2 in CDI and 2 in CDD: « < 3 » twice under an exact 4
    says 2 each, so the situations are withheld; 1 + 1 + 1 + 1 categories are withheld whole."""
    fig = figures["annual"]
    durable = ExitCategoryRow("emploi_durable", "Emploi durable", 4,
                              [CountRow("cdi", "CDI", 2), CountRow("cdd_6", "CDD 6 mois", 2)])
    other = ExitCategoryRow("autre", "Autre sortie", 4, [CountRow("x", "Autre", 4)])
    view = build_view(dataclasses.replace(fig, exits=[durable, other], persons_exited=8,
                                          persons=max(fig.persons, 8)), "externe")
    rows = [(r[0].value, r[1].text) for r in next(t for t in view.tables if t.key == "Sorties").rows]
    assert rows[:2] == [("Emploi durable", "4"), (WITHHELD_TEXT, "–")]
    assert "CDI" not in [label for label, _ in rows]
    tiny = [ExitCategoryRow(f"k{i}", f"Cat {i}", 1, [CountRow(f"s{i}", f"S {i}", 1)])
            for i in range(4)]
    view = build_view(dataclasses.replace(fig, exits=tiny, persons_exited=4), "externe")
    rows = [r[0].value for r in next(t for t in view.tables if t.key == "Sorties").rows]
    assert rows[0] == WITHHELD_TEXT and not any(str(r).startswith("Cat") for r in rows)
    # the withheld categories' persons are not given back by the results table either
    tiny[0] = ExitCategoryRow("emploi_durable", "Emploi durable", 1, tiny[0].situations)
    view = build_view(dataclasses.replace(fig, exits=tiny, persons_exited=4), "externe")
    results = {r[0].value: r[1] for r in next(
        t for t in view.tables if t.key == "Résultats personnes").rows}
    assert results["dont emploi durable"].text == "< 3"
