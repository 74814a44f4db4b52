"""/bilan <année> and /point <marché>: figures from clauses.bilan, text from reports.

Référents see only their own donneur's markets; staff see all. When the bilan modules are not
installed (ImportError), the commands say so in French instead of failing.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from bot import texts
from bot.turn import Turn
from clauses import audit, chat_reports
from clauses.authz import Action, NotAllowed, authorize
from clauses.directory import readable_donneur_names, readable_market
from clauses.formatting import fold
from clauses.reminders import donneur_recipients
from storage.models import Donneur, Market, Role

log = logging.getLogger(__name__)

BILAN_DEFERRED = ("Je prépare le bilan {year} de {donneur} : il porte sur beaucoup de marchés, "
                  "je vous l'envoie ici dès qu'il est prêt (en général moins d'une minute).")
BILAN_UNAVAILABLE = "Les bilans sont momentanément indisponibles dans le chat. Réessayez plus tard."


def _audience(t: Turn) -> str:
    """Staff read every figure; anything shown outside the agency masks small cells."""
    return "interne" if t.role in (Role.ADMIN, Role.FACILITATEUR) else "externe"


def _render(t: Turn, figures) -> str:
    from reports import render_chat

    return render_chat(figures, _audience(t),
                       small_cell_threshold=t.ctx.policy.small_cell_threshold)


def _market_figures(t: Turn, market: Market):
    try:
        from clauses.bilan import market_figures
    except ImportError:
        log.warning("clauses.bilan unavailable")
        return None
    return market_figures(t.session, market.id, t.today, t.ctx.rulebook)


def _market_text(t: Turn, market: Market) -> str | None:
    figures = _market_figures(t, market)
    if figures is None:
        return None
    try:
        return _render(t, figures)
    except ImportError:
        log.warning("reports.render_chat unavailable")
        return None


def _find_market(t: Turn, reference: str) -> Market | None:
    return readable_market(t.session, t.need_actor(), reference.strip()[:60])


def cmd_point(t: Turn, args: str) -> None:
    ref = args.strip()
    if not ref:
        t.say("Indiquez la référence du marché, par exemple « /point 2025-017 ».")
        return
    actor = t.need_actor()
    market = _find_market(t, ref)
    if market is None or not _may_read(t, market):
        t.say(f"Aucun marché « {ref[:60]} » parmi ceux que vous suivez.")
        return
    text = _market_text(t, market)
    if text is None:
        t.say(BILAN_UNAVAILABLE)
        return
    audit.record(t.session, actor, "bilan.market.read", "market", market.id)
    buttons = None
    if t.role in (Role.ADMIN, Role.FACILITATEUR):
        buttons = [[("📧 Envoyer au référent", f"pt:mail:{market.id}")]]
    t.say(text, buttons)  # its first line is the title (« Point d'étape au … — marché … »)


def _may_read(t: Turn, market: Market) -> bool:
    try:
        authorize(t.session, t.need_actor(), Action.BILAN_READ, "market", market.id)
    except NotAllowed:
        return False
    return True


def on_point(t: Turn, parts: list[str]) -> None:
    """pt:mail:<market id>: e-mail the point d'étape to the donneur's référent(s), once a day."""
    if len(parts) != 2 or parts[0] != "mail" or not parts[1].isdigit():
        t.notify(texts.BAD_BUTTON)
        return
    actor = t.need_actor()
    market_id = int(parts[1])
    authorize(t.session, actor, Action.BILAN_READ, "market", market_id)
    authorize(t.session, actor, Action.ADMIN_WRITE)
    market = t.session.get(Market, market_id)
    if market is None:
        raise NotAllowed()
    referents = donneur_recipients(t.session, market.donneur_id)
    if not referents:
        t.say("Aucun référent avec une adresse e-mail n'est enregistré pour ce donneur d'ordre.")
        return
    # Queued, not rendered here: the e-mail sender computes and renders it (charts in a child
    # process), so this chat turn stays quick and the service never imports WeasyPrint.
    try:
        from reports.queued import ReportSpec, enqueue_report_email
    except ImportError:
        t.say(BILAN_UNAVAILABLE)
        return
    spec = ReportSpec(what="market", market_id=market.id, at=t.today, generated_on=t.today,
                      xlsx=False, subject_from_report=True)
    sent_to = []
    for contact in referents:
        _, created = enqueue_report_email(
            t.session,
            dedup_key=f"point:{market.id}:{t.today.isoformat()}:{contact.tag.lstrip('r')}",
            to=contact.email or "",
            spec=spec,
            subject=f"Point d'étape — marché {market.reference}",
        )
        if created:
            sent_to.append(contact.label)
    audit.record(t.session, actor, "bilan.market.sent", "market", market.id, count=len(sent_to))
    t.clear_source_keyboard = True
    if sent_to:
        t.notify("Point d'étape envoyé.")
        t.say(f"📧 Point d'étape envoyé par e-mail à : {', '.join(sent_to)}.")
    else:
        t.notify("Déjà envoyé aujourd'hui.")
        t.say("Ce point d'étape a déjà été envoyé aujourd'hui au référent.")


def cmd_bilan(t: Turn, args: str) -> None:
    words = args.split()
    years = [w for w in words if w.isdigit() and len(w) == 4]
    if len(years) == 1:  # the year first or last: « /bilan Rhône Habitat Social 2026 » too
        words.remove(years[0])
        parts = [years[0], " ".join(words)] if words else [years[0]]
    else:
        parts = args.split(maxsplit=1)
    if not parts or not parts[0].isdigit() or not 2000 <= int(parts[0]) <= 2100:
        usage = "/bilan 2025" if t.role == Role.REFERENT else "/bilan 2025 Ville d'Oullins"
        t.say(f"Indiquez l'année, par exemple « {usage} ».")
        return
    year = int(parts[0])
    actor = t.need_actor()
    name = parts[1].strip() if len(parts) > 1 else ""
    if t.role == Role.REFERENT:
        donneur = t.session.get(Donneur, actor.donneur_id) if actor.donneur_id else None
        if donneur is None:
            raise NotAllowed()
        if name and fold(name) not in fold(donneur.name):
            # Never another donneur's bilan in the référent's own clothes (issue 18): say so,
            # without telling whether the named one exists.
            t.say(f"Vous suivez les marchés de {donneur.name} : « {name[:80]} » n'en fait pas "
                  f"partie. Tapez « /bilan {year} » pour le bilan de {donneur.name}.")
            return
    else:
        if not name:
            names = ", ".join(readable_donneur_names(t.session, actor, limit=20))
            t.say(f"Précisez le donneur d'ordre : /bilan {year} <nom>. Donneurs : {names or 'aucun'}.")
            return
        from clauses.bilan.lookup import find_donneur

        donneur = find_donneur(t.session, name[:200])  # exact, then unique partial; else why
    authorize(t.session, actor, Action.BILAN_READ, "donneur", donneur.id)
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    if chat_reports.annual_scope_markets(t.session, donneur.id, start, end) >= chat_reports.DEFER_FROM_MARKETS:
        _defer_bilan(t, donneur, year, start, end)
        return
    try:
        from clauses.bilan import annual_figures

        figures = annual_figures(
            t.session, donneur.id, start, end, t.ctx.rulebook, today=t.today,
        )
        text = _render(t, figures)
    except ImportError:
        log.warning("clauses.bilan / reports.render_chat unavailable")
        t.say(BILAN_UNAVAILABLE)
        return
    audit.record(t.session, actor, "bilan.annual.read", "donneur", donneur.id, year=year)
    t.say(text)  # its first line is the title (« Bilan annuel 2026 — Ville … »)


def _defer_bilan(t: Turn, donneur: Donneur, year: int, start: dt.date, end: dt.date) -> None:
    """A big scope: record the request in this update's transaction and answer at once; the
    chat report worker (:mod:`bot.chat_reports`) sends the bilan when it is ready."""
    from reports.queued import ReportSpec

    spec = ReportSpec(what="annual", donneur_id=donneur.id, start=start, end=end,
                      audience=_audience(t), generated_on=t.today, xlsx=False)
    # One request per update (a re-handled update queues nothing more); the console has no ids.
    request = t.incoming.update_id if t.incoming.update_id is not None else uuid.uuid4().hex
    chat_reports.request_report(t.session, key=f"chat-bilan:{t.incoming.chat_id}:{request}",
                                chat_id=t.incoming.chat_id, user_id=t.need_actor().user_id,
                                spec=spec.to_json())
    audit.record(t.session, t.need_actor(), "bilan.annual.read", "donneur", donneur.id, year=year)
    t.say(BILAN_DEFERRED.format(year=year, donneur=donneur.name))
