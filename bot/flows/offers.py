"""/offre and /offres: job offers broadcast to the partners, applications, pre-selection.

The chat only reads the words and buttons; every rule is in :mod:`clauses.job_offers`.
Buttons ``off:<verb>:<id>``: ``ok`` approve and broadcast, ``sel`` send the pre-selection,
``cl`` close (facilitator); ``ch`` the company chooses a pre-selected candidate.
"""

from __future__ import annotations

import datetime as dt

from bot.flows.common import CANCEL, in_step
from bot.turn import Flow, Turn
from clauses import job_offers as jo
from clauses.hiring import hire_lots
from storage.models import JobOfferStatus, Role

USAGE_COMPANY = (
    "Déposer une offre d'emploi (diffusée aux partenaires après validation) en une ligne :\n"
    f"/offre {jo.ONE_LINE_USAGE}\n"
    "ex. /offre 2025-017 2 ; Maçon coffreur ; Oullins ; 01/09/2025 ; 6 ; 35 ; 2"
)
USAGE_STAFF = (
    "Déposer une offre pour une entreprise :\n"
    f"/offre <entreprise> : {jo.ONE_LINE_USAGE}\n"
    "ex. /offre BTP Rhône-Confluent : 2025-017 2 ; Maçon coffreur ; Oullins ; 01/09/2025 ; 6 ; 35 ; 2"
)
_STATUS = {JobOfferStatus.OUVERTE: "ouverte", JobOfferStatus.POURVUE: "pourvue",
           JobOfferStatus.FERMEE: "fermée"}


def cmd_offre(t: Turn, args: str) -> None:
    actor = t.need_actor()
    company = None
    if actor.role != Role.ENTREPRISE:
        company, sep, args = args.partition(":")
        if not sep:
            t.say(USAGE_STAFF)
            return
    if not args.strip():
        if actor.role != Role.ENTREPRISE:
            t.say(USAGE_STAFF)
            return
        _start_guided(t)
        return
    offer = jo.create_offer(t.ctx, t.session, actor, jo.parse_offer_line(args), company=company)
    t.say(f"📝 Offre enregistrée : {jo.reference(offer.id)} « {offer.title} ». La·le "
          "facilitateur·rice la valide avant sa diffusion aux partenaires de l'emploi.")


def cmd_offres(t: Turn, args: str) -> None:
    actor = t.need_actor()
    offer_id = jo.quoted_offer_id(args)
    if offer_id is not None and actor.role != Role.ENTREPRISE:
        applications = jo.offer_applications(t.session, actor, offer_id)
        if not applications:
            t.say(f"Aucune candidature pour l'offre {jo.reference(offer_id)} pour l'instant.")
            return
        t.say(f"Candidatures à l'offre {jo.reference(offer_id)} :\n" + "\n".join(
            f"• n° {a.candidature_id} {a.person} — {a.status.value}" + (" — retenu·e" if a.chosen else "")
            for a in applications), [[("📤 Envoyer la présélection", f"off:sel:{offer_id}")]])
        return
    rows = jo.list_offers(t.session, actor)
    if not rows:
        t.say("Aucune offre d'emploi. " + (USAGE_COMPANY if actor.role == Role.ENTREPRISE else USAGE_STAFF))
        return
    for r in rows[-20:]:
        text = (f"{r.description} — {_STATUS[r.status]}"
                + ("" if r.approved else ", à valider")
                + f" — {r.applications} candidature(s), {r.validated} validée(s)")
        buttons = []
        if actor.role != Role.ENTREPRISE and r.status == JobOfferStatus.OUVERTE:
            row = [("📣 Valider et diffuser", f"off:ok:{r.offer_id}")] if not r.approved else [
                ("📤 Présélection", f"off:sel:{r.offer_id}")]
            buttons = [[*row, ("🚫 Fermer", f"off:cl:{r.offer_id}")]]
        t.say(text, buttons)


def on_callback(t: Turn, parts: list[str]) -> None:
    if len(parts) != 2 or not parts[1].isdigit():
        t.notify("Ce bouton n'est plus actif.")
        return
    verb, target = parts[0], int(parts[1])
    actor = t.need_actor()
    if verb == "ok":
        offer, count = jo.approve_offer(t.ctx, t.session, actor, target)
        t.clear_source_keyboard = True
        t.say(f"📣 Offre {jo.reference(offer.id)} validée et envoyée à {count} adresse(s) de partenaires.")
    elif verb == "sel":
        sent = jo.send_preselection(t.ctx, t.session, actor, target)
        t.say(f"📤 Présélection de {len(sent)} candidature(s) envoyée à l'entreprise pour l'offre "
              f"{jo.reference(target)}.")
    elif verb == "cl":
        offer = jo.close_offer(t.ctx, t.session, actor, target)
        t.clear_source_keyboard = True
        t.say(f"🚫 Offre {jo.reference(offer.id)} fermée ; les prescripteurs des candidats en "
              "attente sont prévenus.")
    elif verb == "lot":
        if in_step(t, FLOW, "lot"):
            lots = {lot.lot_id: lot for lot in hire_lots(t.session, actor, actor.company_id)}
            if target not in lots:
                t.notify("Ce bouton n'est plus actif.")
                return
            t.clear_source_keyboard = True
            _lot_chosen(t, lots[target].market_reference, lots[target].lot_number)
    elif verb == "ch":
        _cand, text, hire = jo.choose_candidate(t.ctx, t.session, actor, target)
        t.say(text, [[(b["text"], b["callback_data"]) for b in row] for row in hire["inline_keyboard"]])
    else:
        t.notify("Ce bouton n'est plus actif.")


def on_path(t: Turn, parts: list[str]) -> None:
    """``path:<contract>:<engagement>``: the facilitator proposes the person whose contract ends
    to another company with hours still owed (:mod:`clauses.paths`)."""
    from clauses.paths import propose_person

    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        t.notify("Ce bouton n'est plus actif.")
        return
    cand, created = propose_person(t.ctx, t.session, t.need_actor(), int(parts[0]), int(parts[1]))
    t.say(f"➡️ Candidature n° {cand.id} (validée) proposée à l'entreprise, qui peut déclarer l'embauche."
          if created else f"Déjà proposée : candidature n° {cand.id}.")


# -- the guided /offre of a company: lot, then one question per field ------------------------

FLOW = "offre"
_QUESTIONS = {
    "title": "Intitulé du poste ? (ex. Maçon coffreur)",
    "place": "Lieu de travail ? (commune)",
    "start": "Date de début ? (JJ/MM/AAAA)",
    "duration": "Durée du contrat, en mois ?",
    "hours": "Heures par semaine ?",
    "positions": "Nombre de postes ?",
}
_ORDER = list(_QUESTIONS)


def _start_guided(t: Turn) -> None:
    actor = t.need_actor()
    lots = hire_lots(t.session, actor, actor.company_id)
    if not lots:
        t.say("Votre entreprise ne tient aucun lot : une offre se dépose sur un lot de vos engagements.")
        return
    t.conv.start(FLOW, "lot")
    if len(lots) == 1:
        _lot_chosen(t, lots[0].market_reference, lots[0].lot_number)
        return
    t.say("Offre d'emploi : pour quel lot ? (/annuler pour abandonner ; en une ligne : /offre "
          f"{jo.ONE_LINE_USAGE})",
          [[(f"{lot.market_reference} · lot {lot.lot_number} — {lot.label}"[:60], f"off:lot:{lot.lot_id}")]
           for lot in lots[:30]] + [[CANCEL]])


def _lot_chosen(t: Turn, reference: str, number: int) -> None:
    t.conv.data.update(market=reference, lot=str(number))
    t.conv.goto("title")
    t.say(f"Offre sur le marché {reference}, lot {number}. {_QUESTIONS['title']}")


def on_text(t: Turn, text: str) -> None:
    """Each answer is checked at once (the same checks as the one-line form), then the next."""
    step, d = t.conv.step or "", t.conv.data
    if step not in _QUESTIONS:
        t.say("Choisissez le lot avec les boutons, ou /annuler.")
        return
    checks = {
        "title": jo.read_title,
        "place": jo.read_place,
        "start": jo.read_start,
        "duration": lambda v: jo.read_int(v, "Durée (mois)", 1, jo.MAX_DURATION_MONTHS),
        "hours": lambda v: jo.read_int(v, "Heures par semaine", 1, jo.MAX_HOURS_PER_WEEK),
        "positions": lambda v: jo.read_int(v, "Nombre de postes", 1, jo.MAX_POSITIONS),
    }
    value = checks[step](text)
    if step == "start" and isinstance(value, dt.date) and value < t.today:
        t.say(f"La date de début est passée : indiquez une date à venir. {_QUESTIONS['start']}")
        return
    d[step] = text.strip()
    following = _ORDER[_ORDER.index(step) + 1:]
    if following:
        t.conv.goto(following[0])
        t.say(_QUESTIONS[following[0]])
        return
    data = jo.read_offer(d["market"], d["lot"], d["title"], d["place"], d["start"], d["duration"],
                         d["hours"], d["positions"])
    offer = jo.create_offer(t.ctx, t.session, t.need_actor(), data)
    t.conv.end()
    t.say(f"📝 Offre enregistrée : {jo.reference(offer.id)} « {offer.title} ». La·le "
          "facilitateur·rice la valide avant sa diffusion aux partenaires de l'emploi.")


FLOW_DEF = Flow(name=FLOW, on_text=on_text)
