"""/avancement (per lot: owed, done, expected, status, a text bar) and /marches (portfolio).

Figures come from the domain's progress service (SQL aggregates, scoped by role); this module
only lays them out for a chat screen.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from bot import texts
from bot.turn import Turn
from clauses import directory
from clauses.formatting import fr_date, fr_hours, fr_percent
from storage.models import Role

STATUS_ICONS = {"a_jour": "🟢", "a_risque": "🟠", "en_retard": "🔴", "solde": "✅"}


def progress_bar(done: Decimal, owed: Decimal, width: int = 10) -> str:
    """`▓▓▓▓░░░░░░ 40 %`: a bar a phone shows in any font."""
    if owed <= 0:
        return "—"
    share = max(Decimal(0), done / owed)
    filled = min(width, int((share * width).to_integral_value()))
    percent = fr_percent(min(share, Decimal("9.99")), 0)
    return "▓" * filled + "░" * (width - filled) + f" {percent}"


def _progress(t: Turn):
    try:
        from clauses.progress_service import progress_for_actor
    except ImportError:
        return None
    return progress_for_actor(t.ctx, t.session, t.need_actor(), t.today)


def _status(view) -> str:
    icon = STATUS_ICONS.get(str(getattr(view, "status", "")), "•")
    return f"{icon} {view.status_label}"


def cmd_avancement(t: Turn, args: str) -> None:
    views = _progress(t)
    if views is None:
        t.say(texts.UNAVAILABLE)
        return
    if not views:
        t.say("Aucun engagement d'heures d'insertion n'est rattaché à votre compte.")
        return
    from clauses.declaration_control import contested_for_actor

    contested = contested_for_actor(t.session, t.need_actor(), t.today)
    blocks = [f"Avancement au {fr_date(t.today)}"]
    for v in views:
        doubt = contested.get(v.engagement_id)
        owner = f" — {v.company_name}" if t.role != Role.ENTREPRISE else ""
        blocks.append(
            f"Marché {v.market_reference} — {v.lot_label}{owner}\n"
            f"{progress_bar(Decimal(v.done), Decimal(v.owed))}\n"
            f"Réalisées : {fr_hours(v.done)} sur {fr_hours(v.owed)} dues"
            + (f" (dont {fr_hours(doubt)} contestées, à justifier ou corriger)" if doubt else "")
            + "\n"
            f"Attendues à cette date : {fr_hours(v.expected)}\n"
            f"Statut : {_status(v)}"
        )
    t.say("\n\n".join(blocks))


def cmd_marches(t: Turn, args: str) -> None:
    """The facilitator's portfolio (markets they follow), or every market when they follow none."""
    mine, markets = directory.open_markets(t.session, t.need_actor())
    if not markets:
        t.say("Aucun marché en cours.")
        return
    views = _progress(t) or []
    by_market: dict[str, list] = defaultdict(list)
    for v in views:
        by_market[v.market_reference].append(v)
    title = "Votre portefeuille" if mine else "Marchés en cours (aucun ne vous est attribué)"
    blocks = [f"{title} au {fr_date(t.today)} :"]
    for m in markets:
        lines = [f"📁 {m.reference} — {m.title[:60]} (fin le {fr_date(m.end_date)})"]
        for v in by_market.get(m.reference, []):
            lines.append(
                f"  {v.lot_label} · {v.company_name} : {fr_hours(v.done)} / {fr_hours(v.owed)} "
                f"(attendu {fr_hours(v.expected)}) {_status(v)}"
            )
        if len(lines) == 1:
            lines.append("  aucun engagement enregistré")
        blocks.append("\n".join(lines))
    t.say("\n\n".join(blocks))
