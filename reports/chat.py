"""A short chat message summing up a bilan (Telegram or console; plain text, no markup)."""

from __future__ import annotations

from clauses.bilan.figures import BilanFigures, BilanKind, RelationStatus
from clauses.formatting import fr_date, fr_hours, fr_number, fr_percent
from reports import labels
from reports.view import Masker, durable_exits_cells, qpv_cells

MAX_LINES = 6


def _bar(done, owed) -> str:
    try:
        from clauses.progress import progress_bar
    except ImportError:  # pragma: no cover - progress.py ships with the domain
        return fr_percent(done / owed, 0) if owed else ""
    return progress_bar(done, owed)


def _plural(n: int, word: str) -> str:
    return f"{fr_number(n)} {word}{'s' if n > 1 else ''}"


def render_chat(
    figures: BilanFigures, audience: str = "externe", *, small_cell_threshold: int = 3
) -> str:
    f = figures
    masker = Masker(audience, small_cell_threshold)
    lines = [labels.mail_subject(f)]
    if f.kind in (BilanKind.POINT_ETAPE, BilanKind.FINAL):
        lines.append(f"{f.market_title} ({f.donneur_name})")
    else:
        lines.append(f"Période : {labels.period_label(f.period)}")
        m = f.markets
        lines.append(
            f"{_plural(m.total, 'marché')} : {fr_number(m.with_clause)} avec clause, "
            f"{fr_number(m.reserved)} réservé(s), {fr_number(m.insertion)} d'insertion"
        )
    if f.kind in (BilanKind.POINT_ETAPE, BilanKind.FINAL) and f.market_status:
        lines.append(f"Statut du marché : "
                     f"{labels.MARKET_STATUS_LABELS.get(f.market_status, f.market_status).lower()}")
    lines.append(labels.as_of_line(f))
    lines.append(f"Heures réalisées {labels.counted_span(f)} : {fr_hours(f.hours_counted)}"
                 + (f" (dont {fr_hours(f.hours_contested)} contestées, {labels.CONTESTED_NOTE})"
                    if f.hours_contested else ""))
    h = f.headline
    if h is not None and h.engagements:
        lines.append(
            f"Engagements en heures : {_bar(h.credited, h.owed)} — {fr_hours(h.credited)} sur "
            f"{fr_hours(h.owed)} dues, dans la limite de chaque engagement")
        if h.short:
            lines.append(f"Restent dues : {fr_hours(h.short)} "
                         f"({_plural(h.engagements_short, 'engagement')} non soldé"
                         f"{'s' if h.engagements_short > 1 else ''})")
        if h.over:
            lines.append(f"Au-delà des engagements : {fr_hours(h.over)} (non compensées)")
    for a in f.apart:
        lines.append(f"{labels.MARKET_KIND_SHORT.get(a.kind, a.kind)} ({_plural(a.markets, 'marché')})"
                     f" : {fr_hours(a.hours_to_date)} réalisées, suivies à part")
    lines.append(f"{_plural(f.contracts, 'contrat')} · {_plural(f.persons, 'personne')}"
                 f" (dont {fr_number(f.persons_entered)} entrée"
                 f"{'s' if f.persons_entered > 1 else ''} sur la période)")
    if f.persons_in_paths:
        paths = masker.count(f.persons_in_paths)
        lines.append("Parcours (plusieurs contrats successifs) : " + (
            f"{paths.text} personnes" if paths.masked else _plural(f.persons_in_paths, "personne")))
    qpv = qpv_cells(f, masker)  # masked as in the bilan: the view's rule, not a copy
    if f.qpv is not None and qpv is not None and f.qpv.required_share is not None:
        hours, share, met = qpv
        qpv_done = (hours.text if hours.masked else
                    f"{hours.text} ({share.text if share.value is not None else '–'} des heures)")
        verdict = ("atteint" if f.qpv.met else "non atteint") if not met.masked else "—"
        lines.append(f"Résident·es QPV : {qpv_done}, objectif "
                     f"{fr_percent(f.qpv.required_share)}"
                     + (f" {verdict}" if not met.masked else ""))
    if f.persons_exited:
        durable_text = durable_exits_cells(f, masker)[0].text
        lines.append(f"{_plural(f.persons_exited, 'sortie')}, dont emploi durable : {durable_text}")
    if f.kind is BilanKind.TERRITOIRE:
        lines.append(f"{_plural(len(f.donneurs), 'donneur')} d'ordre")
        return "\n".join(lines)
    if f.kind in (BilanKind.POINT_ETAPE, BilanKind.FINAL):
        rows = [
            (f"Lot {e.lot_number} · {e.company_name}", e.hours_to_date, e.hours_owed,
             e.relation, e.progress_label)
            for e in f.engagements
        ]
    else:
        rows = [
            (c.name, c.hours_to_date, c.hours_owed, c.relation,
             labels.RELATION_LABELS[c.relation].lower())
            for c in f.companies
        ]
    if rows:
        lines.append(f"Avancement au {fr_date(f.progress_cutoff)} (réalisé / dû) :")
    for name, done, owed, relation, status in rows[:MAX_LINES]:
        if relation is not RelationStatus.A_JOUR:
            status = labels.RELATION_LABELS[relation].lower()
        lines.append(f"• {name} : {fr_hours(done)} / {fr_hours(owed)} — {status}")
    if len(rows) > MAX_LINES:
        lines.append(f"… et {len(rows) - MAX_LINES} autre(s)")
    worst = [c for c in f.companies if c.relation in (RelationStatus.SOUS_PROCEDURE,
                                                       RelationStatus.DEFAILLANTE)]
    if worst:
        lines.append("Attention : " + ", ".join(
            f"{c.name} ({labels.RELATION_LABELS[c.relation].lower()})" for c in worst))
    return "\n".join(lines)
