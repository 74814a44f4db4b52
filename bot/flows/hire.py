"""/embauche and « Déclarer l'embauche »: the company (or staff) records a hire, guided.

Steps: the candidature (skipped when the button of the validation notice named it), the lot
(only the company's engagements), the contract type (the rulebook's, as buttons), the start date,
the planned end date (skipped for an open-ended type), the carrying structure (optional: ETTI,
AI, GEIQ, EI/ACI), the job title (optional), then a summary to confirm. Every rule is the domain's
(:func:`clauses.hiring.record_hire`); this module only asks and shows. Callback data: ``h:c:<id>``
(choose or start from a candidature), ``h:lot:<id>``, ``h:t:<type>``, ``h:car:<id|0>``,
``h:skip``, ``h:ok:<token>``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot import texts
from bot.flows.common import CANCEL, chunks, in_step
from bot.turn import Flow, Turn
from clauses.authz import NotAllowed
from clauses.contract_life import contracts_list
from clauses.errors import DomainError
from clauses.formatting import fold, fr_date
from clauses.hiring import (
    HireRequest,
    carriers,
    contract_type_choices,
    hire_lots,
    hire_precheck,
    hireable_candidatures,
    read_date,
    record_hire,
)
from storage.models import Candidature, Role

FLOW = "embauche"
MAX_LISTED = 20
SKIP = ("Passer", "h:skip")


def cmd_embauche(t: Turn, args: str) -> None:
    """/embauche [n° de candidature]: start the guided hire."""
    actor = t.need_actor()
    if args.strip().isdigit():
        _start(t, int(args.strip()))
        return
    found = hireable_candidatures(t.session, actor)
    if not found:
        t.say("Aucune candidature validée à embaucher. Proposez un candidat avec /candidat : "
              "l'embauche se déclare une fois la candidature validée par votre facilitateur·rice.")
        return
    t.conv.start(FLOW, "pick", token=t.new_token())
    t.say("Déclarer une embauche : quelle candidature validée ?",
          [[(f"n° {c.candidature_id} — {c.participant_name}"[:60], f"h:c:{c.candidature_id}")]
           for c in found] + [[CANCEL]])


def cmd_contrats(t: Turn, args: str) -> None:
    """/contrats [marché]: the contracts the user may see, newest first (staff: all)."""
    lines = contracts_list(t.session, t.need_actor(), market_reference=args.strip() or None,
                           limit=MAX_LISTED)
    if not lines:
        t.say("Aucun contrat" + (f" sur le marché {args.strip()}" if args.strip() else "") + ".")
        return
    types = {key: label for key, label, _ in contract_type_choices(t.ctx)}
    t.say("Contrats (les plus récents d'abord) :\n"
          + "\n".join("• " + c.describe(types.get(c.contract_type, c.contract_type)) for c in lines)
          + ("\n(les plus anciens sont dans « clausebot contrat list »)" if len(lines) == MAX_LISTED else ""))


def _start(t: Turn, candidature_id: int) -> None:
    actor = t.need_actor()
    cand, _, already = hire_precheck(t.session, actor, candidature_id)
    if already is not None:
        t.conv.end()
        t.say("ℹ️ " + already.message_fr)
        return
    data: dict[str, Any] = {"cand": cand.id, "company": cand.company_id}
    if t.conv.flow == FLOW and t.conv.data.get("token"):
        data["token"] = t.conv.data["token"]
    else:
        data["token"] = t.new_token()
    t.conv.start(FLOW, "lot", **data)
    lots = hire_lots(t.session, actor, cand.company_id)
    if not lots and cand.company_id is None:
        raise DomainError(f"La candidature n° {cand.id} ne nomme pas d'entreprise : enregistrez "
                          f"l'embauche avec « clausebot contrat create --candidature {cand.id} "
                          "--entreprise … ».")
    if not lots:
        raise DomainError("Aucun lot où compter cette embauche : l'entreprise n'a pas "
                          "d'engagement enregistré. Voyez votre facilitateur·rice.")
    if cand.lot_id in {lot.lot_id for lot in lots}:
        t.conv.data["lot"] = cand.lot_id
        _ask_type(t)
        return
    if len(lots) == 1:
        t.conv.data["lot"] = lots[0].lot_id
        _ask_type(t)
        return
    t.say("Sur quel lot l'embauche compte-t-elle ?",
          [[(f"{lot.market_reference} · lot {lot.lot_number} — {lot.label}"[:60],
             f"h:lot:{lot.lot_id}")] for lot in lots[:30]] + [[CANCEL]])


def _ask_type(t: Turn) -> None:
    t.conv.goto("type")
    items = [(label[:40], f"h:t:{key}") for key, label, _ in contract_type_choices(t.ctx)]
    t.say("Type de contrat ?", [*chunks(items, 2), [CANCEL]])


def _ask_carrier(t: Turn) -> None:
    found = carriers(t.session)
    if not found:
        _ask_title(t)
        return
    t.conv.goto("carrier")
    t.say("Le contrat est-il porté par une structure d'insertion (ETTI, AI, GEIQ, EI, ACI) ? "
          "Les heures restent comptées pour votre engagement.",
          [[("Non, par l'entreprise", "h:car:0")]]
          + [[(f"{name} ({kind})"[:60], f"h:car:{cid}")] for cid, name, kind in found[:20]]
          + [[CANCEL]])


def _ask_title(t: Turn) -> None:
    t.conv.goto("title")
    t.say("Intitulé du poste ? (par exemple « Maçon coffreur »), ou « Passer ».", [[SKIP], [CANCEL]])


def _summary(t: Turn) -> None:
    d = t.conv.data
    t.conv.goto("confirm")
    lots = {lot.lot_id: lot for lot in hire_lots(t.session, t.need_actor(), d.get("company"))}
    lot = lots.get(d["lot"])
    types = {key: label for key, label, _ in contract_type_choices(t.ctx)}
    carrier = dict((cid, name) for cid, name, _ in carriers(t.session)).get(d.get("carrier") or 0)
    cand = t.session.get(Candidature, d["cand"])
    who = cand.participant.display_name if cand is not None else "?"
    t.say(
        "Récapitulatif de l'embauche :\n"
        f"• Personne : {who} (candidature n° {d['cand']})\n"
        f"• Lot : {lot.market_reference + ' lot ' + str(lot.lot_number) if lot else '?'}\n"
        f"• Contrat : {types.get(d['type'], d['type'])} du {fr_date(_date(d['start']))}"
        + (f" au {fr_date(_date(d['end']))}" if d.get("end") else " (sans date de fin)") + "\n"
        f"• Porté par : {carrier or 'l’entreprise'}\n"
        f"• Poste : {d.get('title') or 'non précisé'}\n\n"
        "Enregistrer l'embauche ?",
        [[("✅ Confirmer", f"h:ok:{d['token']}"), CANCEL]],
    )


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def on_text(t: Turn, text: str) -> None:
    d = t.conv.data
    step = t.conv.step
    if step == "start":
        d["start"] = read_date(text, "Date de début").isoformat()
        if d.get("open_ended"):
            _ask_carrier(t)
        else:
            t.conv.goto("end")
            t.say("Date de fin prévue du contrat ? (JJ/MM/AAAA)", [[CANCEL]])
    elif step == "end":
        end = read_date(text, "Date de fin")
        if end < _date(d["start"]):
            raise DomainError(f"La date de fin ({fr_date(end)}) est avant la date de début "
                              f"({fr_date(_date(d['start']))}). Réécrivez la date de fin.")
        d["end"] = end.isoformat()
        _ask_carrier(t)
    elif step == "title":
        if fold(text) not in ("passer", "non", "aucun"):
            d["title"] = " ".join(text.split())[:200]
        _summary(t)
    else:
        t.say(texts.CONTEXT_HELP.get(t.conv.where or "", texts.NOT_UNDERSTOOD))


def on_callback(t: Turn, parts: list[str]) -> None:
    verb = parts[0] if parts else ""
    arg = parts[1] if len(parts) > 1 else ""
    d = t.conv.data
    if verb == "c" and arg.isdigit():
        t.clear_source_keyboard = t.conv.flow == FLOW
        _start(t, int(arg))
    elif verb == "lot" and arg.isdigit():
        if not in_step(t, FLOW, "lot"):
            return
        if int(arg) not in {lot.lot_id for lot in hire_lots(t.session, t.need_actor(), d.get("company"))}:
            raise NotAllowed()
        t.clear_source_keyboard = True
        d["lot"] = int(arg)
        _ask_type(t)
    elif verb == "t":
        if not in_step(t, FLOW, "type"):
            return
        choices = {key: open_ended for key, _, open_ended in contract_type_choices(t.ctx)}
        if arg not in choices:
            t.notify("Type inconnu.")
            return
        t.clear_source_keyboard = True
        d["type"], d["open_ended"] = arg, choices[arg]
        d.pop("end", None)
        t.conv.goto("start")
        t.say("Date de début du contrat ? (JJ/MM/AAAA, par exemple 03/03/2025)", [[CANCEL]])
    elif verb == "car" and arg.isdigit():
        if not in_step(t, FLOW, "carrier"):
            return
        if int(arg) and int(arg) not in {cid for cid, _, _ in carriers(t.session)}:
            raise NotAllowed()
        t.clear_source_keyboard = True
        d["carrier"] = int(arg) or None
        _ask_title(t)
    elif verb == "skip":
        if not in_step(t, FLOW, "title"):
            return
        t.clear_source_keyboard = True
        _summary(t)
    elif verb == "ok":
        _confirm(t, arg)
    else:
        t.notify("Bouton non reconnu.")


def _confirm(t: Turn, token: str) -> None:
    t.clear_source_keyboard = True
    d = t.conv.data
    if t.conv.flow != FLOW or t.conv.step != "confirm" or d.get("token") != token:
        t.notify("Ce bouton n'est plus actif (embauche déjà enregistrée ou abandonnée).")
        return
    actor = t.need_actor()
    req = HireRequest(
        candidature_id=int(d["cand"]), lot_id=int(d["lot"]), contract_type=d["type"],
        start=_date(d["start"]), end=_date(d["end"]) if d.get("end") else None,
        employer_id=d.get("carrier"), job_title=d.get("title"),
        company_id=d.get("company") if actor.role != Role.ENTREPRISE else None,
    )
    outcome = record_hire(t.ctx, t.session, actor, req, source=t.incoming.channel)
    t.conv.end()
    t.notify("Embauche enregistrée." if outcome.created else "Déjà enregistrée.")
    t.say(("✅ " if outcome.created else "ℹ️ ") + outcome.message_fr)


FLOW_DEF = Flow(name=FLOW, on_text=on_text)
