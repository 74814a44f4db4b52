"""/candidat: a company (or a prescriber) proposes a candidate to the facilitator.

The domain records the candidature and raises the facilitator's alert with its buttons; the
company hears the decision through the outbox when the facilitator decides. Only what the
facilitator needs to judge eligibility is asked: name, one contact, the criteria claimed, and
an optional CV (stored through the document store, which checks its size and real type).
"""

from __future__ import annotations

import re

from bot import texts
from bot.flows.common import CANCEL, chunks, in_step
from bot.messages import IncomingFile
from bot.shortcut import fold
from bot.turn import Flow, Turn
from clauses import directory
from clauses.authz import NotAllowed
from clauses.errors import DomainError

FLOW = "candidat"

_NAME = re.compile(r"^[^\W\d_]+(?:[ '\-][^\W\d_]+)*$")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}$")
_PHONE = re.compile(r"^\+?[\d .\-]{8,20}$")


def cmd_candidat(t: Turn, args: str) -> None:
    from clauses.job_offers import open_offer, quoted_offer_id, reference

    offer_id = quoted_offer_id(args)
    extra: dict = {}
    if offer_id is not None:  # « /candidat OFF-12 »: an application to the offer
        actor = t.need_actor()
        offer = open_offer(t.session, offer_id, company_id=actor.company_id)
        extra = {"offer_id": offer.id, "lot_id": offer.lot_id}
    t.conv.start(FLOW, "last", token=t.new_token(), criteria=[], **extra)
    t.say(
        (f"Candidature pour l'offre {reference(offer_id)}.\n" if offer_id is not None else "")
        + "Proposer un candidat à votre facilitateur·rice, qui vérifiera son éligibilité.\n"
        "Nom de famille du candidat ? (/annuler pour abandonner)"
    )


def _name(text: str, what: str) -> str:
    value = " ".join(text.split())
    if not (1 <= len(value) <= 100) or not _NAME.match(value):
        raise DomainError(
            f"Le {what} ne doit contenir que des lettres, des espaces, des tirets ou des "
            "apostrophes (100 caractères au plus). Réécrivez-le."
        )
    return value


def _criteria_keyboard(t: Turn) -> list[list[tuple[str, str]]]:
    chosen = set(t.conv.data.get("criteria", []))
    items = []
    for key, crit in t.ctx.rulebook.eligibility.criteria.items():
        mark = "✅ " if key in chosen else ""
        items.append((f"{mark}{crit.short}"[:40], f"c:cr:{key}"))
    rows = chunks(items, 2)
    rows.append([("Terminé", "c:crdone"), CANCEL])
    return rows


def _company_lots(t: Turn) -> list[tuple[int, str]]:
    rows = directory.company_open_lots(t.session, t.need_actor())
    return [(lot_id, f"{ref} · lot {num} — {label}"[:60]) for lot_id, num, label, ref in rows]


def on_text(t: Turn, text: str) -> None:
    d = t.conv.data
    step = t.conv.step
    if step == "last":
        d["last"] = _name(text, "nom")
        t.conv.goto("first")
        t.say("Prénom du candidat ?")
    elif step == "first":
        d["first"] = _name(text, "prénom")
        _ask_contact(t)
    elif step == "contact":
        value = text.strip()
        if fold(value) == "passer":
            _ask_criteria(t)
        elif _EMAIL.match(value) and len(value) <= 254:
            d["email"] = value.lower()
            _ask_criteria(t)
        elif _PHONE.match(value) and 8 <= sum(c.isdigit() for c in value) <= 15:
            d["phone"] = re.sub(r"[ .\-]", "", value)
            _ask_criteria(t)
        else:
            t.say(
                "Je ne reconnais ni un téléphone ni un e-mail. Écrivez par exemple "
                "« 06 12 34 56 78 » ou « prenom.nom@exemple.fr », ou appuyez sur « Passer ».",
                [[("Passer", "c:skip")], [CANCEL]],
            )
    elif step == "cv" and fold(text) in ("passer", "non", "aucun"):
        _summary(t)
    elif step in PROFILE_TEXT_STEPS:
        _profile_text(t, step, text)
    else:
        t.say(texts.CONTEXT_HELP.get(t.conv.where or "", texts.NOT_UNDERSTOOD))


def _ask_contact(t: Turn) -> None:
    t.conv.goto("contact")
    t.say(
        "Un moyen de joindre le candidat (téléphone ou e-mail) ? Appuyez sur « Passer » si "
        "vous préférez être l’intermédiaire.",
        [[("Passer", "c:skip")], [CANCEL]],
    )


def _ask_criteria(t: Turn) -> None:
    t.conv.goto("criteria")
    t.say(
        "Quels critères d'éligibilité le candidat remplit-il, selon vous ? Cochez-les puis "
        "appuyez sur « Terminé » (votre facilitateur·rice les vérifiera).",
        _criteria_keyboard(t),
    )


def _ask_lot_or_cv(t: Turn) -> None:
    lots = _company_lots(t)
    if len(lots) > 1 and "lot_id" not in t.conv.data:
        t.conv.goto("lot")
        t.say("Pour quel lot ?", [[(label, f"c:lot:{lot_id}")] for lot_id, label in lots[:30]] + [[CANCEL]])
        return
    if len(lots) == 1:
        t.conv.data["lot_id"] = lots[0][0]
    t.conv.goto("cv")
    t.say(
        "Envoyez le CV du candidat (PDF, DOCX ou photo, 10 Mo au plus), ou appuyez sur « Passer ».",
        [[("Passer", "c:skip")], [CANCEL]],
    )


def _summary(t: Turn) -> None:
    d = t.conv.data
    t.conv.goto("confirm")
    criteria = t.ctx.rulebook.eligibility.criteria
    claimed = ", ".join(criteria[k].short for k in d.get("criteria", []) if k in criteria) or "aucun"
    lot_id = d.get("lot_id")
    lot = dict(_company_lots(t)).get(lot_id, "non précisé") if lot_id else "non précisé"
    contact = d.get("email") or d.get("phone") or "par l'entreprise"
    t.say(
        "Récapitulatif de la candidature :\n"
        f"• Candidat : {d['last'].upper()} {d['first']}\n"
        f"• Contact : {contact}\n"
        f"• Critères déclarés : {claimed}\n"
        f"• Lot : {lot}\n"
        f"• CV : {'joint' if d.get('cv_id') else 'aucun'}\n"
        f"• Profil pour le bilan : {_profile_line(t)}\n\n"
        "Transmettre à votre facilitateur·rice ? (Le profil est facultatif : « Profil » pour "
        "le renseigner.)",
        [[("✅ Confirmer", f"c:ok:{d['token']}"), ("📝 Profil", "c:pf")], [CANCEL]],
    )


def on_file(t: Turn, file: IncomingFile) -> None:
    assert file.data is not None
    doc = t.ctx.documents.store(t.session, file.data, kind="cv", display_name=file.display_name)
    t.conv.data["cv_id"] = doc.id
    t.say("CV reçu.")
    _summary(t)


def on_callback(t: Turn, parts: list[str]) -> None:
    """c:skip, c:cr:<criterion>, c:crdone, c:lot:<id>, c:ok:<token>, c:same|other:<token>."""
    verb = parts[0] if parts else ""
    d = t.conv.data
    if verb == "ok":
        _confirm(t, parts[1] if len(parts) > 1 else "")
    elif verb == "skip":
        if not in_step(t, FLOW, "contact", "cv", *PROFILE_STEPS):
            return
        t.clear_source_keyboard = True
        if t.conv.step == "contact":
            _ask_criteria(t)
        elif t.conv.step in PROFILE_STEPS:
            _next_profile_step(t, t.conv.step)
        else:
            _summary(t)
    elif verb in ("pf", "g", "q", "st"):
        _profile_callback(t, verb, parts[1:])
    elif verb == "cr" and len(parts) == 2:
        if not in_step(t, FLOW, "criteria"):
            return
        key = parts[1]
        if key not in t.ctx.rulebook.eligibility.criteria:
            t.notify("Critère inconnu.")
            return
        chosen = list(d.get("criteria", []))
        chosen.remove(key) if key in chosen else chosen.append(key)
        d["criteria"] = chosen
        t.say(
            "Critères cochés : " + (", ".join(chosen) if chosen else "aucun")
            + ". Cochez-en d'autres ou appuyez sur « Terminé ».",
            _criteria_keyboard(t), replace=True,
        )
    elif verb == "crdone":
        if not in_step(t, FLOW, "criteria"):
            return
        t.clear_source_keyboard = True
        _ask_lot_or_cv(t)
    elif verb == "lot" and len(parts) == 2:
        if not in_step(t, FLOW, "lot"):
            return
        if not parts[1].isdigit() or int(parts[1]) not in dict(_company_lots(t)):
            raise NotAllowed()
        t.clear_source_keyboard = True
        d["lot_id"] = int(parts[1])
        _ask_lot_or_cv(t)
    elif verb in ("same", "other") and len(parts) == 2:
        if not in_step(t, FLOW, "confirm") or "asked" not in d:
            return
        d["same_person"] = d["asked"] if verb == "same" else 0
        _confirm(t, parts[1])
    else:
        t.notify("Bouton non reconnu.")


def _confirm(t: Turn, token: str) -> None:
    t.clear_source_keyboard = True
    key = t.idempotency_key(token)
    if t.conv.flow != FLOW or t.conv.step != "confirm" or t.conv.data.get("token") != token:
        done = directory.candidature_with_key(t.session, key)
        t.notify("Cette candidature est déjà transmise." if done else "Ce bouton n'est plus actif.")
        return
    from clauses.candidatures import CandidateInput, submit_candidature
    from clauses.identity import SamePersonQuestion

    d = t.conv.data
    actor = t.need_actor()
    candidate = CandidateInput(
        last_name=d["last"], first_name=d["first"], email=d.get("email"), phone=d.get("phone"),
        criteria_claimed=list(d.get("criteria", [])),
    )
    profile = d.get("profile", {})
    try:
        cand = submit_candidature(
            t.ctx, t.session, actor, candidate,
            company_id=actor.company_id, lot_id=d.get("lot_id"), prescriber_id=actor.prescriber_id,
            cv_document_id=d.get("cv_id"), source=t.incoming.channel, idempotency_key=key,
            birth_date=profile.get("birth_date"), gender=profile.get("gender"),
            commune=profile.get("commune"), qpv=profile.get("qpv"),
            status_at_entry=profile.get("status_at_entry"),
            same_person=d.get("same_person"), job_offer_id=d.get("offer_id"),
        )
    except SamePersonQuestion as question:  # one person, one record: the submitter says
        d["asked"] = question.match.participant_id
        t.say(question.message_fr, [[("✅ Oui, même personne", f"c:same:{token}"),
                                     ("➕ Non, une autre personne", f"c:other:{token}")], [CANCEL]])
        return
    t.conv.end()
    t.notify("Candidature transmise.")
    t.say(
        f"✅ Candidature n° {cand.id} transmise à votre facilitateur·rice pour validation. "
        "Vous serez informé·e ici de sa décision."
    )


# --- the profile the bilans need (optional, reached from the summary) ----------------------------

PROFILE_STEPS = ("p_birth", "p_gender", "p_commune", "p_qpv", "p_status")
PROFILE_TEXT_STEPS = ("p_birth", "p_commune")
_SKIP = ("Passer", "c:skip")


def _profile_line(t: Turn) -> str:
    p = t.conv.data.get("profile", {})
    parts = []
    if p.get("birth_date"):
        parts.append(f"né·e {p['birth_date']}")
    if p.get("gender"):
        parts.append({"F": "femme", "M": "homme"}.get(p["gender"], "autre"))
    if p.get("commune"):
        parts.append(p["commune"])
    if p.get("qpv") is not None:
        parts.append("QPV" if p["qpv"] else "hors QPV")
    if p.get("status_at_entry"):
        crit = t.ctx.rulebook.eligibility.criteria.get(p["status_at_entry"])
        parts.append(f"statut {crit.short if crit else p['status_at_entry']}")
    return ", ".join(parts) or "non renseigné"


def _ask_profile(t: Turn, step: str) -> None:
    t.conv.goto(step)
    if step == "p_birth":
        t.say("Date de naissance du candidat (JJ/MM/AAAA), ou seulement l'année ?",
              [[_SKIP], [CANCEL]])
    elif step == "p_gender":
        t.say("Genre ?", [[("Femme", "c:g:F"), ("Homme", "c:g:M"), ("Autre", "c:g:X")], [_SKIP]])
    elif step == "p_commune":
        t.say("Commune de résidence ?", [[_SKIP], [CANCEL]])
    elif step == "p_qpv":
        t.say("Habite-t-il·elle un quartier prioritaire (QPV) ?",
              [[("Oui", "c:q:1"), ("Non", "c:q:0")], [("Je ne sais pas", "c:skip")]])
    else:
        criteria = t.ctx.rulebook.eligibility.criteria
        rows = chunks([(c.short[:40], f"c:st:{k}") for k, c in criteria.items()], 2)
        t.say("Statut à l'entrée (sa situation principale) ?", [*rows, [_SKIP]])


def _next_profile_step(t: Turn, step: str) -> None:
    i = PROFILE_STEPS.index(step)
    if i + 1 < len(PROFILE_STEPS):
        _ask_profile(t, PROFILE_STEPS[i + 1])
    else:
        _summary(t)


def _profile_text(t: Turn, step: str, text: str) -> None:
    from clauses.typology import clean_commune, parse_birth

    if fold(text) == "passer":
        _next_profile_step(t, step)
        return
    profile = dict(t.conv.data.get("profile", {}))
    if step == "p_birth":
        profile["birth_date"] = f"{parse_birth(text, t.today):%d/%m/%Y}"
    else:
        profile["commune"] = clean_commune(text)
    t.conv.data["profile"] = profile
    _next_profile_step(t, step)


def _profile_callback(t: Turn, verb: str, args: list[str]) -> None:
    """c:pf opens the profile from the summary; c:g:<F|M|X>, c:q:<1|0>, c:st:<criterion>."""
    if verb == "pf":
        if not in_step(t, FLOW, "confirm"):
            return
        t.clear_source_keyboard = True
        _ask_profile(t, PROFILE_STEPS[0])
        return
    step = {"g": "p_gender", "q": "p_qpv", "st": "p_status"}[verb]
    if not in_step(t, FLOW, step):
        return
    value = args[0] if args else ""
    profile = dict(t.conv.data.get("profile", {}))
    if verb == "g" and value in ("F", "M", "X"):
        profile["gender"] = value
    elif verb == "q" and value in ("0", "1"):
        profile["qpv"] = value == "1"
    elif verb == "st" and value in t.ctx.rulebook.eligibility.criteria:
        profile["status_at_entry"] = value
    else:
        t.notify(texts.BAD_BUTTON)
        return
    t.clear_source_keyboard = True
    t.conv.data["profile"] = profile
    _next_profile_step(t, step)


FLOW_DEF = Flow(name=FLOW, on_text=on_text, on_file=on_file, file_steps=frozenset({"cv"}))
