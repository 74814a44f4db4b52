"""One presentation model for every output format.

:func:`build_view` turns :class:`~clauses.bilan.figures.BilanFigures` into titled tables of typed
cells (hours, counts, shares, dates, text), applying the audience's rules once: the HTML e-mail,
the plain text, the spreadsheet and the PDF then only lay the same cells out, so they can never
disagree, and small-cell masking cannot be forgotten by one of them.

Small cells (statistical disclosure control): in a report that leaves the agency
(``audience="externe"``), a typology count between 1 and ``threshold - 1`` is shown as
"< threshold" and its share is hidden, because a count of 1 or 2 people in a commune or an age band
can identify someone. Totals stay exact. Sensitive statuses at entry (health and justice data) are
also merged into one row for external readers.

Neighbouring figures follow the same rule (:mod:`reports.disclosure`): a contract type of fewer
than ``threshold`` persons loses its hours with its counts (whole rows, never one alone); the
persons and contracts of a company, market or donneur row are masked the same way (their hours
stay: they are the company's obligation, and no masked count sits beside them); the QPV hours of a
market done by fewer than ``threshold`` persons are masked; a figure derived from masked cells
(durable exits, durable contracts, in employment at 6 months) is masked with them; a table that
no masking can save (every person in cells the total pins) is withheld. Internal outputs stay
exact.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Concatenate, Literal, ParamSpec, TypeVar

from clauses.bilan.figures import (
    HOUR_OBLIGATION_KINDS,
    ZERO,
    BilanFigures,
    BilanKind,
    ContractTypeRow,
    CountRow,
    EngagementLine,
    RelationStatus,
)
from clauses.context import AgencyIdentity
from clauses.formatting import fr_date, fr_hours, fr_month, fr_number, fr_percent
from reports import labels
from reports.disclosure import (
    WITHHELD_TEXT,
    column_masks,
    exposed,
    protect,
    protect_rows,
    recoverable,
)
from reports.identity import AgencyView, resolve

Audience = Literal["externe", "interne"]
AUDIENCES: tuple[str, ...] = ("externe", "interne")
PROTECTED_STATUS_LABEL = "Autres publics (catégories protégées)"
SECONDARY_TEXT = "(s)"
"""Shown instead of a count masked only so that a small one cannot be deduced from the total."""


class Fmt(StrEnum):
    HOURS = "hours"
    INT = "int"
    PCT = "pct"
    DATE = "date"
    MONTH = "month"
    TEXT = "text"


@dataclass(frozen=True)
class Cell:
    """A value with its format; ``masked`` cells show ``masked_text`` instead of the value."""

    value: Decimal | int | str | dt.date | None
    fmt: Fmt = Fmt.TEXT
    masked_text: str | None = None
    bold: bool = False
    indent: bool = False
    colour: str | None = None

    @property
    def masked(self) -> bool:
        return self.masked_text is not None

    @property
    def text(self) -> str:
        if self.masked_text is not None:
            return self.masked_text
        v = self.value
        if v is None:
            return "–"
        if self.fmt is Fmt.HOURS:
            return fr_hours(v)  # type: ignore[arg-type]
        if self.fmt is Fmt.INT:
            return fr_number(v)  # type: ignore[arg-type]
        if self.fmt is Fmt.PCT:
            return fr_percent(Decimal(v).quantize(Decimal("0.001")))  # type: ignore[arg-type]
        if self.fmt is Fmt.DATE:
            return fr_date(v)  # type: ignore[arg-type]
        if self.fmt is Fmt.MONTH:
            return fr_month(v, capitalize=True)  # type: ignore[arg-type]
        return str(v)

    @property
    def numeric(self) -> bool:
        return self.fmt in (Fmt.HOURS, Fmt.INT, Fmt.PCT)


@dataclass(frozen=True)
class Column:
    label: str
    fmt: Fmt = Fmt.TEXT
    wrap: bool = False
    """Long free text (names, titles) that may wrap; other cells stay on one line in the PDF."""


@dataclass
class Table:
    key: str
    """Short unique name (also the spreadsheet's sheet name, ≤ 31 characters)."""
    title: str
    columns: list[Column]
    rows: list[list[Cell]]
    total: list[Cell] | None = None
    note: str | None = None

    @property
    def masked(self) -> bool:
        return any(c.masked for row in self.rows for c in row)


@dataclass(frozen=True)
class NoteView:
    written_on: dt.date
    about: str
    body: str

    @property
    def date_text(self) -> str:
        return fr_date(self.written_on)


@dataclass
class ReportView:
    kind: BilanKind
    audience: str
    threshold: int
    subject: str
    title: str
    subtitle: str
    context_lines: list[str]
    key_figures: list[tuple[str, Cell]]
    tables: list[Table]
    notes: list[NoteView]
    footer: list[str] = field(default_factory=list)
    agency: AgencyView | None = None
    synthesis: list[NoteView] = field(default_factory=list)
    synthesis_expected: bool = False
    """Annual bilan: the partnership's synthesis belongs here (a placeholder says it is missing)."""

    @property
    def masked(self) -> bool:
        return any(t.masked for t in self.tables)


class Masker:
    """Applies the small-cell rule of the audience to counts and their shares."""

    def __init__(self, audience: str, threshold: int) -> None:
        if audience not in AUDIENCES:
            raise ValueError(f"audience must be one of {AUDIENCES}, not {audience!r}")
        self.active = audience == "externe" and threshold > 1
        self.threshold = threshold

    def hides(self, n: int) -> bool:
        return self.active and 0 < n < self.threshold

    def count(self, n: int, **style) -> Cell:
        return Cell(n, Fmt.INT, f"< {self.threshold}" if self.hides(n) else None, **style)

    def share(self, n: int, total: int) -> Cell:
        if self.hides(n):
            return Cell(None, Fmt.PCT, "–")
        return Cell(Decimal(n) / Decimal(total) if total else None, Fmt.PCT)

    def hidden(self, values: Sequence[int]) -> dict[int, str]:
        """Which of these counts to mask, and with what text, when they add up to a total
        that is shown exactly.

        A small cell next to an exact total can be recovered by subtraction, alone or with
        others (a total of 6, a 3 and three « < 3 »: each is 1); other cells are masked too
        until none can be worked out (complementary suppression, INSEE's « s »), see
        :mod:`reports.disclosure`.
        """
        if not self.active:
            return {}
        return protect(values, self.threshold)  # complementary suppression: reports.disclosure

    def withheld(self, values: Sequence[int]) -> bool:
        """Whether a table of these counts must not be shown at all (see
        :func:`reports.disclosure.exposed`)."""
        return self.active and exposed(values, self.threshold)

    def rows(self, columns: Sequence[Sequence[int]], primary: Sequence[int] = ()) -> set[int]:
        """Rows whose counts and neighbouring figures are suppressed together."""
        return protect_rows(columns, self.threshold, primary=primary) if self.active else set()

    def derived(self, n: int, masked: bool, **style) -> Cell:
        """A figure computed from other cells: masked when any of them is, else as a count."""
        if self.active and masked and n:
            return Cell(n, Fmt.INT, f"< {self.threshold}" if n < self.threshold else SECONDARY_TEXT,
                        **style)
        return self.count(n, **style)

    def additive(self, values: Sequence[int], total: int, *, bold: bool = False
                 ) -> list[tuple[Cell, Cell]]:
        """(count, share) cells of rows that add up to ``total``, with secondary suppression."""
        hidden = self.hidden(values)
        return [
            (Cell(n, Fmt.INT, hidden[i], bold=bold), Cell(None, Fmt.PCT, "–"))
            if i in hidden else
            (Cell(n, Fmt.INT, bold=bold),
             Cell(Decimal(n) / Decimal(total) if total else None, Fmt.PCT))
            for i, n in enumerate(values)
        ]


def _h(v: Decimal, **style) -> Cell:
    return Cell(v, Fmt.HOURS, **style)


def _n(v: int, **style) -> Cell:
    return Cell(v, Fmt.INT, **style)


def _t(v: str | None, **style) -> Cell:
    return Cell(v, Fmt.TEXT, **style)


def _pct(done: Decimal, owed: Decimal, **style) -> Cell:
    return Cell(done / owed if owed else None, Fmt.PCT, **style)


def _relation(status: RelationStatus) -> Cell:
    return Cell(labels.RELATION_LABELS[status], Fmt.TEXT, colour=labels.RELATION_COLOURS[status])


def _withheld(columns: list[Column]) -> list[Cell]:
    """The one row of a table no masking can save: no category, no figure."""
    return [_t(WITHHELD_TEXT)] + [Cell(None, c.fmt) for c in columns[1:]]


def _mask_counts(rows: list[list[Cell]], columns: Sequence[int], masker: Masker) -> None:
    """Mask the person and contract counts of rows about fewer than ``threshold`` persons
    (companies, markets, donneurs): a count of 1 beside a row's hours makes them one person's."""
    values = [[int(v) if isinstance(v := r[c].value, (int, Decimal)) else 0 for r in rows]
              for c in columns]
    suppressed = masker.rows(values)
    for c, col in zip(columns, values, strict=True):
        for i, text in column_masks(col, suppressed, masker.threshold).items():
            rows[i][c] = dataclasses.replace(rows[i][c], masked_text=text)


# --- the view --------------------------------------------------------------------------------


def build_view(
    figures: BilanFigures,
    audience: str = "externe",
    *,
    small_cell_threshold: int = 3,
    agency_name: str | None = None,
    generated_on: dt.date | None = None,
    agency: AgencyIdentity | None = None,
) -> ReportView:
    masker = Masker(audience, small_cell_threshold)
    f = figures
    identity = resolve(agency, agency_name)
    market_bilan = f.kind in (BilanKind.POINT_ETAPE, BilanKind.FINAL)
    subtitle = (
        f"{f.market_reference} — {f.market_title}" if market_bilan else labels.subject_of(f)
    )
    context = []
    if market_bilan:
        context.append(f"Donneur d'ordre : {f.donneur_name}")
        if f.market_status:
            context.append(f"Statut du marché : "
                           f"{labels.MARKET_STATUS_LABELS.get(f.market_status, f.market_status)}")
    context.append(f"Période : {labels.period_label(f.period)}")
    context.append(labels.as_of_line(f))
    if identity.convention_reference:
        context.append(identity.convention_reference)
    tables: list[Table] = []
    if f.kind is BilanKind.TERRITOIRE:
        tables.append(_donneurs_table(f, masker))
    tables.append(_months_table(f))
    tables.append(_engagements_table(f))
    tables.append(_companies_table(f, masker))
    if f.apart:
        tables.append(_apart_table(f, masker))
    if not market_bilan:
        tables.append(_markets_table(f, masker))
    tables.append(_means_table(f))
    tables.append(_relation_table(f, audience))
    tables.append(_results_table(f, masker))
    tables.extend(_typology_tables(f, masker))
    tables.append(_contract_types_table(f, masker))
    tables.append(_exits_table(f, masker))
    tables.append(_followup_table(f, masker))
    footer = [
        f"Document établi par {identity.name} le "
        f"{fr_date(generated_on or dt.date.today())}.",
        "Heures comptabilisées selon le règlement de comptage du territoire ; les heures sont "
        "déclarées par mois et un mois n'est compté qu'une fois terminé.",
        f"Avancement : heures attendues au prorata de la durée des lots, au "
        f"{fr_date(f.progress_cutoff)} (fin du dernier mois complet).",
        "Taux de réalisation : pour chaque engagement, les heures réalisées sont retenues dans la "
        "limite des heures dues ; les heures au-delà sont indiquées à part et ne compensent pas "
        "le retard d'un autre engagement.",
        "Une personne ayant plusieurs contrats ou travaillant sur plusieurs marchés est comptée "
        "une seule fois dans les totaux.",
    ]
    if masker.active:
        footer.append(
            f"Secret statistique : les effectifs de 1 à {small_cell_threshold - 1} sont affichés "
            f"« < {small_cell_threshold} » ; « {SECONDARY_TEXT} » masque un autre effectif pour "
            "qu'un petit effectif ne puisse pas se déduire du total ; les heures d'une ligne "
            f"masquée et les heures QPV de moins de {small_cell_threshold} personnes ne sont pas "
            "diffusées, ni le détail d'un tableau que le total suffirait à révéler ; les totaux "
            "sont exacts."
        )
    return ReportView(
        kind=f.kind,
        audience=audience,
        threshold=small_cell_threshold,
        subject=labels.mail_subject(f),
        title=labels.title(f),
        subtitle=subtitle,
        context_lines=context,
        key_figures=_key_figures(f, masker),
        tables=[t for t in tables if t.rows or t.key in ("Entreprises",)],
        notes=[NoteView(n.written_on, n.about, n.body) for n in f.notes],
        footer=footer,
        agency=identity,
        synthesis=[NoteView(n.written_on, n.about, n.body) for n in f.synthesis],
        synthesis_expected=f.kind is BilanKind.ANNUEL,
    )


_P = ParamSpec("_P")
_T = TypeVar("_T")


def _taking_view_arguments(
    build: Callable[Concatenate[BilanFigures, _P], ReportView],
) -> Callable[[Callable[[BilanFigures, ReportView], _T]],
              Callable[Concatenate[BilanFigures, _P], _T]]:
    """Give a renderer of a view the arguments of ``build``, so that the e-mail, PDF and
    workbook take the audience and masking options in one place and cannot drift apart."""

    def decorator(
        render: Callable[[BilanFigures, ReportView], _T],
    ) -> Callable[Concatenate[BilanFigures, _P], _T]:
        @functools.wraps(render)
        def rendered(figures: BilanFigures, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
            return render(figures, build(figures, *args, **kwargs))

        return rendered

    return decorator


from_view = _taking_view_arguments(build_view)
"""Decorator: ``render(figures, view)`` becomes ``render(figures, audience, **build_view options)``."""


def _key_figures(f: BilanFigures, masker: Masker) -> list[tuple[str, Cell]]:
    """The headline, every figure named with its period or its « as of » date."""
    out: list[tuple[str, Cell]] = []
    cutoff = fr_date(f.progress_cutoff)
    if f.kind in (BilanKind.ANNUEL, BilanKind.TERRITOIRE):
        out.append(("Marchés et opérations avec clause et/ou action", _n(f.markets.total)))
        for kind, label in labels.MARKET_KIND_LABELS.items():
            out.append((f"dont {label[0].lower()}{label[1:]}",
                        _n(f.markets.by_kind.get(kind, 0), indent=True)))
    out.append((f"Heures réalisées {labels.counted_span(f)}", _h(f.hours_counted, bold=True)))
    if f.hours_work or f.hours_training:
        out.append(("dont heures de formation déclarées", _h(f.hours_training, indent=True)))
    if f.hours_contested:
        out.append((f"dont heures contestées ({labels.CONTESTED_NOTE})",
                    _h(f.hours_contested, indent=True)))
    h = f.headline
    if h is not None and h.engagements:
        out.append(("Heures dues (marchés avec clause)", _h(h.owed)))
        out.append((f"Heures réalisées au {cutoff} depuis le début des marchés, dans la limite "
                    "de chaque engagement", _h(h.credited)))
        out.append((f"Taux de réalisation des engagements au {cutoff}",
                    Cell(h.rate, Fmt.PCT, bold=True)))
        out.append((f"Heures restant dues ({_plural(h.engagements_short, 'engagement')} non "
                    "soldé" + ("s" if h.engagements_short > 1 else "") + ")",
                    _h(h.short, indent=True)))
        out.append((f"Heures au-delà des engagements ({_plural(h.engagements_over, 'engagement')}"
                    ", non compensées)", _h(h.over, indent=True)))
    for line in f.apart:
        label = labels.APART_PLURAL.get(line.kind, line.kind)
        out.append((f"{label} : heures réalisées au {cutoff} (suivies à part)",
                    _h(line.hours_to_date)))
    out.extend(_qpv_figures(f, masker))
    out.append(("Contrats", _n(f.contracts)))
    out.append(("Personnes (comptées une fois)", _n(f.persons, bold=True)))
    out.append(("dont personnes entrées sur la période", _n(f.persons_entered, indent=True)))
    out.append(("dont parcours (plusieurs contrats successifs)", _n(f.persons_in_paths, indent=True)))
    out.append(("Sorties sur la période", _n(f.persons_exited)))
    if f.kind is not BilanKind.TERRITOIRE:
        late = sum(1 for c in f.companies if c.relation is not RelationStatus.A_JOUR)
        out.append(("Entreprises suivies", _n(len(f.companies))))
        out.append(("dont en retard, sous procédure ou défaillantes", _n(late, indent=True)))
    return out


def _plural(n: int, word: str) -> str:
    return f"{fr_number(n)} {word}{'s' if n > 1 else ''}"


def _qpv_figures(f: BilanFigures, masker: Masker) -> list[tuple[str, Cell]]:
    """Market bilans: hours done by QPV residents, against the market's target when it has one
    (ANRU operations). Done by fewer than ``threshold`` persons, hours and share are masked for
    external readers; whether the target is met (a bound, not a figure) stays."""
    qpv = f.qpv
    cells = qpv_cells(f, masker)
    if qpv is None or cells is None or (qpv.required_share is None and not qpv.hours):
        return []
    out = [("dont réalisées par des résident·es QPV", cells[0]),
           ("Part des heures réalisées par des résident·es QPV", cells[1])]
    if qpv.required_share is not None:
        out.append(("Objectif QPV du marché (ANRU)", Cell(qpv.required_share, Fmt.PCT)))
        out.append(("Objectif QPV atteint à ce jour", cells[2]))
    return out


def _months_table(f: BilanFigures) -> Table:
    rows = [
        [Cell(m.month, Fmt.MONTH), _h(m.counted_hours), _h(m.work_hours), _h(m.training_hours)]
        for m in f.hours_by_month
    ]
    return Table(
        key="Heures par mois",
        title="Heures réalisées par mois",
        columns=[Column("Mois", Fmt.MONTH), Column("Heures comptabilisées", Fmt.HOURS),
                 Column("Travail déclaré", Fmt.HOURS), Column("Formation déclarée", Fmt.HOURS)],
        rows=rows,
        total=[_t("Total", bold=True), _h(f.hours_counted, bold=True),
               _h(f.hours_work, bold=True), _h(f.hours_training, bold=True)],
    )


def _by_company(lines: list[EngagementLine]) -> dict[int, tuple[Decimal, Decimal]]:
    """company id -> (hours credited within each engagement, hours beyond them)."""
    out: dict[int, tuple[Decimal, Decimal]] = {}
    for e in lines:
        credited, over = out.get(e.company_id, (ZERO, ZERO))
        out[e.company_id] = (credited + e.hours_credited, over + e.hours_over)
    return out


def _companies_table(f: BilanFigures, masker: Masker) -> Table:
    cutoff = fr_date(f.progress_cutoff)
    capped = _by_company(f.engagements)
    rows = []
    for c in f.companies:
        credited, over = capped.get(c.company_id, (ZERO, ZERO))
        rows.append([
            _t(c.name, bold=True),
            _t(labels.COMPANY_KIND_LABELS.get(c.kind, c.kind)),
            _h(c.hours_owed),
            _h(c.hours_period),
            _h(c.hours_to_date),
            _h(c.hours_expected),
            _pct(credited, c.hours_owed),
            _h(over),
            _n(c.contracts),
            _n(c.persons),
            _relation(c.relation),
        ])
    _mask_counts(rows, (8, 9), masker)
    credited_all = sum((e.hours_credited for e in f.engagements), ZERO)
    total = [
        _t("Total", bold=True), _t(""),
        _h(sum((c.hours_owed for c in f.companies), Decimal(0)), bold=True),
        _h(sum((c.hours_period for c in f.companies), Decimal(0)), bold=True),
        _h(sum((c.hours_to_date for c in f.companies), Decimal(0)), bold=True),
        _h(sum((c.hours_expected for c in f.companies), Decimal(0)), bold=True),
        _pct(credited_all, f.hours_owed, bold=True),
        _h(sum((e.hours_over for e in f.engagements), ZERO), bold=True),
        _n(f.contracts, bold=True), _n(f.persons, bold=True), _t(""),
    ]
    note = None
    if f.pooled_persons_note:
        note = ("Des personnes ont travaillé pour plusieurs entreprises (heures mutualisées) : "
                "le total des personnes les compte une seule fois.")
    return Table(
        key="Entreprises",
        title="Réalisation par entreprise",
        columns=[Column("Entreprise", wrap=True), Column("Type"), Column("Heures dues", Fmt.HOURS),
                 Column(f"Réalisées {labels.counted_span(f)}", Fmt.HOURS),
                 Column(f"Réalisées depuis le début au {cutoff}", Fmt.HOURS),
                 Column(f"Attendues au {cutoff}", Fmt.HOURS), Column("Taux", Fmt.PCT),
                 Column("Au-delà des engagements", Fmt.HOURS),
                 Column("Contrats", Fmt.INT), Column("Personnes", Fmt.INT), Column("Relation")],
        rows=rows,
        total=total if rows else None,
        note=note,
    )


def _engagements_table(f: BilanFigures) -> Table:
    cutoff = fr_date(f.progress_cutoff)
    rows = [
        [
            _t(f"{e.market_reference} · lot {e.lot_number}", bold=True),
            _t(e.lot_label),
            _t(e.company_name),
            _h(e.hours_owed),
            _h(e.hours_period),
            _h(e.hours_to_date),
            Cell(e.rate, Fmt.PCT),
            _h(e.hours_over),
            _h(e.hours_expected),
            _t(e.progress_label[:1].upper() + e.progress_label[1:]),
            _relation(e.relation),
        ]
        for e in f.engagements
    ]
    return Table(
        key="Lots",
        title="Réalisation par engagement (lot et entreprise)",
        columns=[Column("Lot"), Column("Intitulé", wrap=True), Column("Entreprise", wrap=True),
                 Column("Heures dues", Fmt.HOURS),
                 Column(f"Réalisées {labels.counted_span(f)}", Fmt.HOURS),
                 Column(f"Réalisées depuis le début au {cutoff}", Fmt.HOURS),
                 Column("Taux", Fmt.PCT), Column("Au-delà", Fmt.HOURS),
                 Column(f"Attendues au {cutoff}", Fmt.HOURS),
                 Column("Avancement"), Column("Relation")],
        rows=rows,
        note="Taux : heures réalisées depuis le début sur heures dues ; au-delà de 100 %, "
             "l'engagement est dépassé (les heures en plus sont comptées à part)."
        if rows else None,
    )


def _apart_table(f: BilanFigures, masker: Masker) -> Table:
    """Reserved and insertion markets: the market itself is the obligation, so their hours
    stay out of the clause headline and are shown with their own indicators."""
    cutoff = fr_date(f.progress_cutoff)
    rows = [
        [_t(labels.MARKET_KIND_LABELS.get(a.kind, a.kind), bold=True), _n(a.markets),
         _n(a.engagements), _h(a.hours_planned), _h(a.hours_period), _h(a.hours_to_date),
         _n(a.contracts), _n(a.persons)]
        for a in f.apart
    ]
    _mask_counts(rows, (6, 7), masker)
    return Table(
        key="Réservés et insertion",
        title="Marchés réservés et marchés d'insertion (suivis à part)",
        columns=[Column("Type de marché", wrap=True), Column("Marchés", Fmt.INT),
                 Column("Titulaires", Fmt.INT), Column("Heures prévues", Fmt.HOURS),
                 Column(f"Réalisées {labels.counted_span(f)}", Fmt.HOURS),
                 Column(f"Réalisées depuis le début au {cutoff}", Fmt.HOURS),
                 Column("Contrats", Fmt.INT), Column("Personnes", Fmt.INT)],
        rows=rows,
        note="Ces marchés ne sont pas comptés dans le taux de réalisation des clauses : "
             "l'obligation porte sur le marché lui-même, pas sur un nombre d'heures.",
    )


def _relation_table(f: BilanFigures, audience: str) -> Table:
    """Company relationship: procedure steps and meetings, dated (seed annex §2B)."""
    rows = []
    for e in f.relation_events:
        detail = e.state_label or ""
        if audience == "interne" and e.note:
            detail = f"{detail} — {e.note}" if detail else e.note
        elif e.source == "reunion" and e.note:
            detail = e.note
        rows.append([Cell(e.day, Fmt.DATE), _t(e.company_name or "–"),
                     _t(e.market_reference or "–"),
                     _t(e.label[:1].upper() + e.label[1:]), _t(detail)])
    return Table(
        key="Relation entreprises",
        title="Relation avec les entreprises : réunions et démarches",
        columns=[Column("Date", Fmt.DATE), Column("Entreprise", wrap=True), Column("Marché"),
                 Column("Réunion ou démarche", wrap=True),
                 Column("État de la procédure / lieu", wrap=True)],
        rows=rows,
    )


DYNAMIC_EXITS = ("emploi_durable", "emploi_transition", "sortie_positive")


def _results_table(f: BilanFigures, masker: Masker) -> Table:
    """Results and benefits for the persons (seed art. 5): where the persons went."""
    by_key = {c.key: c.persons for c in f.exits}
    dynamic = sum(by_key.get(k, 0) for k in DYNAMIC_EXITS)
    masked_exits = _masked_exit_keys(f, masker)
    durable_contract_rows = _masked_contract_types(f, masker)
    rows = [
        [_t("Personnes ayant travaillé sur la période"), _n(f.persons), Cell(None, Fmt.PCT)],
        [_t("dont entrées sur la période", indent=True), _n(f.persons_entered),
         Cell(None, Fmt.PCT)],
        [_t("Personnes sorties sur la période"), _n(f.persons_exited), Cell(None, Fmt.PCT)],
        [_t("dont sorties dynamiques (emploi durable, de transition, sortie positive)",
            indent=True), *_derived(dynamic, f.persons_exited,
                                    bool(masked_exits & set(DYNAMIC_EXITS)), masker)],
        [_t("dont emploi durable", indent=True), *durable_exits_cells(f, masker)],
        [_t("Contrats d'emploi durable"),
         masker.derived(f.durable_contracts, any(r.durable for r in durable_contract_rows)),
         Cell(None, Fmt.PCT)],
    ]
    if f.followups is not None:
        followed = sum(r.count for r in f.followups)
        in_job_rows = [i for i, r in enumerate(f.followups)
                       if "emploi" in r.key or "cdi" in r.key]
        in_job = sum(f.followups[i].count for i in in_job_rows)
        counts = [r.count for r in f.followups]
        hidden = set(range(len(counts))) if masker.withheld(counts) else set(masker.hidden(counts))
        rows.append([_t("Personnes suivies 6 mois après la sortie"), _n(followed),
                     Cell(None, Fmt.PCT)])
        rows.append([_t("dont en emploi à 6 mois", indent=True),
                     *_derived(in_job, followed, bool(hidden & set(in_job_rows)), masker)])
    return Table(
        key="Résultats personnes",
        title="Résultats et bénéfices pour les personnes",
        columns=[Column("Indicateur", wrap=True), Column("Personnes", Fmt.INT),
                 Column("Part", Fmt.PCT)],
        rows=rows,
        note=None if f.followups is not None else
        "Suivi à 6 mois : données non disponibles (le suivi après la sortie n'est pas "
        "encore enregistré).",
    )


def _derived(n: int, total: int, masked: bool, masker: Masker) -> tuple[Cell, Cell]:
    """(count, share) of a figure summed from cells of another table: masked with them, so the
    sum cannot be subtracted from what that table shows."""
    cell = masker.derived(n, masked)
    return cell, (Cell(None, Fmt.PCT, "–") if cell.masked else masker.share(n, total))


def _masked_exit_keys(f: BilanFigures, masker: Masker) -> set[str]:
    """Exit categories the « Sorties » table does not show exactly (the same rule as there)."""
    counts = [c.persons for c in f.exits]
    if masker.withheld(counts):
        return {c.key for c in f.exits if c.persons}
    return {f.exits[i].key for i in masker.hidden(counts)}


def _masked_contract_types(f: BilanFigures, masker: Masker) -> list[ContractTypeRow]:
    """Contract-type rows the « Types de contrat » table suppresses (the same rule as there)."""
    counts = [[r.contracts for r in f.contract_types], [r.persons for r in f.contract_types]]
    return [f.contract_types[i] for i in sorted(masker.rows(counts))]


def durable_exits_cells(f: BilanFigures, masker: Masker) -> tuple[Cell, Cell]:
    """« dont emploi durable » as every output shows it (bilan tables and chat summary)."""
    durable = next((c.persons for c in f.exits if c.key == "emploi_durable"), 0)
    return _derived(durable, f.persons_exited, "emploi_durable" in _masked_exit_keys(f, masker),
                    masker)


def qpv_cells(f: BilanFigures, masker: Masker) -> tuple[Cell, Cell, Cell] | None:
    """(hours, share, target met) of QPV residents on a market, as every output shows them.

    Hours and share are masked when fewer than ``threshold`` persons did them (they would be one
    or two persons' own); the verdict — a bound, which the buyer needs — is masked too when the
    market has fewer than ``threshold`` persons at all (it would tell whether they live in a
    QPV)."""
    qpv = f.qpv
    if qpv is None:
        return None
    text = f"non diffusé (< {masker.threshold} personnes)"
    met = "oui" if qpv.met else "non"
    verdict = Cell(met, Fmt.TEXT, colour=None if qpv.met else labels.RELATION_COLOURS[
        RelationStatus.EN_RETARD])
    if masker.hides(f.persons):
        verdict = Cell(met, Fmt.TEXT, text)
    if masker.hides(qpv.persons) or masker.hides(f.persons):
        return (Cell(qpv.hours, Fmt.HOURS, text, indent=True), Cell(qpv.share, Fmt.PCT, "–"),
                verdict)
    return _h(qpv.hours, indent=True), Cell(qpv.share, Fmt.PCT), verdict


def _followup_table(f: BilanFigures, masker: Masker) -> Table:
    rows_in = f.followups or []
    total = sum(r.count for r in rows_in)
    columns = [Column("Situation", wrap=True), Column("Personnes", Fmt.INT),
               Column("Part", Fmt.PCT)]
    if masker.withheld([r.count for r in rows_in]):
        return Table(key="Suivi à 6 mois", title="Situation 6 mois après la sortie",
                     columns=columns, rows=[_withheld(columns)],
                     total=[_t("Total", bold=True), _n(total, bold=True),
                            Cell(None, Fmt.PCT)])
    return Table(
        key="Suivi à 6 mois",
        title="Situation 6 mois après la sortie",
        columns=columns,
        rows=[[_t(r.label), count, share] for r, (count, share)
              in zip(rows_in, masker.additive([r.count for r in rows_in], total), strict=True)],
        total=[_t("Total", bold=True), _n(total, bold=True),
               Cell(Decimal(1) if total else None, Fmt.PCT, bold=True)] if rows_in else None,
    )


def _by_market(lines: list[EngagementLine]) -> dict[int, tuple[Decimal, Decimal]]:
    """market id -> (hours credited within each engagement, hours beyond them)."""
    out: dict[int, tuple[Decimal, Decimal]] = {}
    for e in lines:
        credited, over = out.get(e.market_id, (ZERO, ZERO))
        out[e.market_id] = (credited + e.hours_credited, over + e.hours_over)
    return out


def _market_rate(m, capped: dict[int, tuple[Decimal, Decimal]]) -> Cell:
    """Capped per engagement; no rate for reserved and insertion markets (not an hours
    obligation)."""
    if m.kind not in HOUR_OBLIGATION_KINDS:
        return Cell(None, Fmt.PCT)
    return _pct(capped.get(m.market_id, (ZERO, ZERO))[0], m.hours_owed)


def _markets_table(f: BilanFigures, masker: Masker) -> Table:
    capped = _by_market(f.engagements)
    cutoff = fr_date(f.progress_cutoff)
    rows = [
        [
            _t(m.reference, bold=True),
            _t(m.title),
            _t(labels.MARKET_KIND_SHORT.get(m.kind, m.kind)),
            _t(labels.MARKET_STATUS_LABELS.get(m.status, m.status)),
            Cell(m.start_date, Fmt.DATE),
            Cell(m.end_date, Fmt.DATE),
            _h(m.hours_owed),
            _h(m.hours_period),
            _h(m.hours_to_date),
            _market_rate(m, capped),
            _h(capped.get(m.market_id, (ZERO, ZERO))[1]),
            _n(m.contracts),
            _n(m.persons),
        ]
        for m in f.market_lines
    ]
    _mask_counts(rows, (11, 12), masker)
    columns = [Column("Référence"), Column("Intitulé", wrap=True), Column("Type"), Column("Statut"),
               Column("Début", Fmt.DATE), Column("Fin", Fmt.DATE),
               Column("Heures dues", Fmt.HOURS),
               Column(f"Réalisées {labels.counted_span(f)}", Fmt.HOURS),
               Column(f"Réalisées depuis le début au {cutoff}", Fmt.HOURS),
               Column("Taux", Fmt.PCT), Column("Au-delà", Fmt.HOURS),
               Column("Contrats", Fmt.INT), Column("Personnes", Fmt.INT)]
    if f.kind is BilanKind.TERRITOIRE:
        columns.insert(1, Column("Donneur d'ordre", wrap=True))
        for row, m in zip(rows, f.market_lines, strict=True):
            row.insert(1, _t(m.donneur_name))
    return Table(key="Marchés", title="Marchés et opérations", columns=columns, rows=rows,
                 note="Taux : heures retenues dans la limite de chaque engagement ; pas de taux "
                      "pour les marchés réservés et d'insertion." if rows else None)


def _means_table(f: BilanFigures) -> Table:
    rows = [
        [_t(labels.MEANS_LABELS.get(m.key, m.key)), _n(m.engagements), _h(m.hours_owed),
         _h(m.hours_period)]
        for m in f.means
    ]
    return Table(
        key="Modalités",
        title="Modalités d'application de la clause",
        columns=[Column("Modalité", wrap=True), Column("Engagements", Fmt.INT),
                 Column("Heures dues", Fmt.HOURS),
                 Column(f"Réalisées {labels.counted_span(f)}", Fmt.HOURS)],
        rows=rows,
        total=[_t("Total", bold=True), _n(len(f.engagements), bold=True),
               _h(f.hours_owed, bold=True),
               _h(sum((m.hours_period for m in f.means), Decimal(0)), bold=True)]
        if rows else None,
    )


def _donneurs_table(f: BilanFigures, masker: Masker) -> Table:
    rows = [
        [_t(d.name, bold=True), _n(d.markets), _h(d.hours_owed), _h(d.hours_period),
         _n(d.contracts), _n(d.persons)]
        for d in f.donneurs
    ]
    _mask_counts(rows, (4, 5), masker)
    return Table(
        key="Donneurs d'ordre",
        title="Par donneur d'ordre",
        columns=[Column("Donneur d'ordre", wrap=True), Column("Marchés", Fmt.INT),
                 Column("Heures dues", Fmt.HOURS),
                 Column(f"Heures réalisées {labels.counted_span(f)}", Fmt.HOURS),
                 Column("Contrats", Fmt.INT), Column("Personnes", Fmt.INT)],
        rows=rows,
        total=[_t("Territoire", bold=True), _n(f.markets.total, bold=True),
               _h(f.hours_owed, bold=True), _h(f.hours_counted, bold=True),
               _n(f.contracts, bold=True), _n(f.persons, bold=True)],
        note="Une personne ayant travaillé pour plusieurs donneurs d'ordre apparaît sur chaque "
             "ligne concernée et une seule fois dans le total du territoire.",
    )


def _count_table(key: str, title: str, first: str, rows: list[CountRow], total: int,
                 masker: Masker, *, protect_sensitive: bool = False) -> Table:
    shown = list(rows)
    if protect_sensitive and masker.active:
        sensitive = [r for r in shown if r.sensitive]
        if sensitive:
            shown = [r for r in shown if not r.sensitive]
            shown.append(CountRow("protege", PROTECTED_STATUS_LABEL,
                                  sum(r.count for r in sensitive)))
    columns = [Column(first, wrap=True), Column("Personnes", Fmt.INT), Column("Part", Fmt.PCT)]
    values = [r.count for r in shown]
    if masker.withheld(values):
        return Table(key=key, title=title, columns=columns, rows=[_withheld(columns)],
                     total=[_t("Total", bold=True), _n(total, bold=True),
                            Cell(None, Fmt.PCT)])
    return Table(
        key=key,
        title=title,
        columns=columns,
        rows=[[_t(r.label), count, share] for r, (count, share)
              in zip(shown, masker.additive(values, total), strict=True)],
        total=[_t("Total", bold=True), _n(total, bold=True),
               Cell(Decimal(1) if total else None, Fmt.PCT, bold=True)],
    )


def _typology_tables(f: BilanFigures, masker: Masker) -> list[Table]:
    t = f.typology
    p = f.persons
    return [
        _count_table("Âge", "Âge à l'entrée (premier contrat de la période)", "Tranche d'âge",
                     t.age_bands, p, masker),
        _count_table("Genre", "Genre", "Genre", t.genders, p, masker),
        _count_table("Commune", "Lieu de résidence", "Commune", t.communes, p, masker),
        _count_table("QPV", "Résidence en quartier prioritaire (QPV)", "Résidence", t.qpv, p,
                     masker),
        _count_table("Statut à l'entrée", "Statut à l'entrée", "Statut", t.status_at_entry, p,
                     masker, protect_sensitive=True),
    ]


def _contract_types_table(f: BilanFigures, masker: Masker) -> Table:
    counts = [[r.contracts for r in f.contract_types], [r.persons for r in f.contract_types]]
    suppressed = masker.rows(counts)  # the same rows as _masked_contract_types
    by_column = [column_masks(col, suppressed, masker.threshold) for col in counts]
    rows = [
        [_t(r.label), Cell(r.contracts, Fmt.INT, by_column[0].get(i)),
         Cell(r.persons, Fmt.INT, by_column[1].get(i)),
         Cell(r.counted_hours, Fmt.HOURS, SECONDARY_TEXT if i in suppressed else None),
         _t("oui" if r.durable else "non")]
        for i, r in enumerate(f.contract_types)
    ]
    if any(recoverable(col, masks, masker.threshold)
           for col, masks in zip(counts, by_column, strict=True)):  # every row masked, still pinned
        rows = [_withheld([Column("Type de contrat"), Column("Contrats", Fmt.INT),
                           Column("Personnes", Fmt.INT), Column("Heures", Fmt.HOURS),
                           Column("Emploi durable")])]
    return Table(
        key="Types de contrat",
        title="Typologie des contrats",
        columns=[Column("Type de contrat", wrap=True), Column("Contrats", Fmt.INT),
                 Column("Personnes", Fmt.INT), Column("Heures comptabilisées", Fmt.HOURS),
                 Column("Emploi durable")],
        rows=rows,
        total=[_t("Total", bold=True), _n(f.contracts, bold=True), _n(f.persons, bold=True),
               _h(sum((r.counted_hours for r in f.contract_types), Decimal(0)), bold=True),
               _t("")],
        note="Une personne peut avoir eu plusieurs types de contrat : la colonne Personnes ne "
             "s'additionne pas." if sum(r.persons for r in f.contract_types) > f.persons
        and rows[0][0].value != WITHHELD_TEXT else None,
    )


def _exits_table(f: BilanFigures, masker: Masker) -> Table:
    rows: list[list[Cell]] = []
    columns = [Column("Catégorie / situation", wrap=True), Column("Personnes", Fmt.INT),
               Column("Part des sorties", Fmt.PCT)]
    if masker.withheld([c.persons for c in f.exits]):
        rows.append(_withheld(columns))
    categories = masker.additive([c.persons for c in f.exits], f.persons_exited, bold=True)
    for category, (count, share) in zip(f.exits, categories, strict=True):
        if rows and rows[0][0].value == WITHHELD_TEXT:
            break
        rows.append([_t(category.label, bold=True), count, share])
        # a category's situations add up to the category: the same rule holds inside it
        if not count.masked and masker.withheld([s.count for s in category.situations]):
            rows.append([_t(WITHHELD_TEXT, indent=True), Cell(None, Fmt.INT),
                         Cell(None, Fmt.PCT)])
            continue
        situations = masker.additive([s.count for s in category.situations], f.persons_exited)
        if count.masked:  # shown situations would add up to the masked category
            situations = [(Cell(c.value, Fmt.INT, c.masked_text or SECONDARY_TEXT)
                           if c.value else c, Cell(None, Fmt.PCT, "–"))
                          for c, _ in situations]
        for s, (s_count, s_share) in zip(category.situations, situations, strict=True):
            rows.append([_t(s.label, indent=True), s_count, s_share])
    rows.append([_t("Sans sortie sur la période"), _n(f.persons_without_exit),
                 Cell(None, Fmt.PCT)])
    return Table(
        key="Sorties",
        title="Situation des personnes à la sortie",
        columns=columns,
        rows=rows,
        total=[_t("Sorties sur la période", bold=True), _n(f.persons_exited, bold=True),
               Cell(Decimal(1) if f.persons_exited else None, Fmt.PCT, bold=True)],
    )
