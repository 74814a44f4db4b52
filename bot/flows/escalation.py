"""The escalation procedure in the chat: /procedure, /relances (facilitators), /reponse
(companies), and the ``esc:`` buttons.

The domain (:mod:`clauses.escalation_procedure`) returns typed actions; this module alone
knows how they are written as button data (:func:`encode`), and turns the typed buttons of
pushed messages into callback data when they are delivered (:func:`encode_markup`, called by
the chat outbox sender). Every press is re-authorised by the use case it calls.
"""

from __future__ import annotations

import re
from typing import Any

from bot import texts
from bot.messages import Keyboard
from bot.turn import Turn
from clauses import escalation_procedure as proc
from clauses import escalation_service as svc
from clauses.actions import ActionButton, ActionKind, action_of
from clauses.alerts import resolve_alerts
from clauses.authz import Action, authorize
from clauses.formatting import fr_date
from storage.models import Alert, AlertKind

_CODES: dict[ActionKind, str] = {
    ActionKind.OPEN_CASE: "open",
    ActionKind.SHOW_CASE: "show",
    ActionKind.ASK_CONSENT: "ask",
    ActionKind.SEND_LETTER: "letter",
    ActionKind.CONSENT: "consent",
    ActionKind.ALERT_BUYER: "buyer",
    ActionKind.RECORD_DEFAULT: "default",
    ActionKind.COMPUTE_PENALTIES: "pen",
    ActionKind.CLOSE_PENALISED: "closep",
    ActionKind.CLOSE_REGULARISED: "closer",
}
_KINDS = {code: kind for kind, code in _CODES.items()}
_KINDS["ok"] = _KINDS["approve"] = ActionKind.SEND_LETTER  # buttons pushed by older versions

USAGE = (
    "Procédures de relance (annexe §2A) :\n"
    "• /procedure — les procédures en cours\n"
    "• /procedure ouvrir <marché> [lot N] <entreprise> [note] — ex. « /procedure ouvrir "
    "2025-017 BTP Rhône »\n"
    "• /procedure <n°> — historique et étape suivante\n"
    "• /procedure <n°> contact telephone|rencontre|email|courrier <note>\n"
    "• /procedure <n°> relance [note] — relance écrite envoyée par e-mail (PDF)\n"
    "• /procedure <n°> accord — demander l'accord du donneur d'ordre (projet de courrier)\n"
    "• /procedure <n°> alerter [refus] · defaillance [note] · penalites · "
    "clore regularise|penalise [note]"
)


def encode(button: ActionButton) -> tuple[str, str]:
    """A typed button as this chat's (label, callback data)."""
    return button.label, f"esc:{_CODES[button.kind]}:{button.subject_id}"


def buttons(actions: list[ActionButton]) -> Keyboard:
    return [[encode(a)] for a in actions]


def encode_markup(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    """Stored Bot API markup with typed actions -> markup with callback data (others kept)."""
    if not markup or "inline_keyboard" not in markup:
        return markup
    rows = []
    for row in markup["inline_keyboard"]:
        out = []
        for b in row:
            typed = action_of(b) if isinstance(b, dict) else None
            if typed is not None and typed[0] in _CODES:
                label, data = encode(ActionButton(str(b.get("text", "")), *typed))
                out.append({"text": label, "callback_data": data})
            else:
                out.append(b)
        rows.append(out)
    return {**markup, "inline_keyboard": rows}


# --- buttons --------------------------------------------------------------------------------


def on_callback(t: Turn, parts: list[str]) -> None:
    """esc:<verb>:<id> — see :data:`_CODES`."""
    if len(parts) != 2 or parts[0] not in _KINDS or not parts[1].isdigit():
        t.notify(texts.BAD_BUTTON)
        return
    kind, subject_id = _KINDS[parts[0]], int(parts[1])
    actor = t.need_actor()
    if kind is ActionKind.CONSENT:
        result = proc.give_consent(t.ctx, t.session, actor, subject_id)
        t.clear_source_keyboard = True
        if result.already:
            t.notify("Accord déjà enregistré.")
            t.say(f"Votre accord pour la procédure n° {subject_id} était déjà enregistré "
                  f"(le {fr_date(result.consent_at.date())}) : rien de plus à faire.")
        else:
            t.notify("Accord enregistré.")
            t.say(f"✅ Accord enregistré pour la procédure n° {subject_id} : le courrier de rappel "
                  "des obligations part à l'entreprise"
                  f"{_deadline(result.deadline)}.")
        return
    authorize(t.session, actor, Action.ESCALATION_ACT)
    t.clear_source_keyboard = True
    if kind is ActionKind.OPEN_CASE:
        _opened(t, proc.open_case(t.ctx, t.session, actor, subject_id))
        _resolve(t, "engagement", subject_id, AlertKind.ENTREPRISE_EN_RETARD)
    elif kind is ActionKind.SHOW_CASE:
        _show(t, subject_id)
    elif kind is ActionKind.ASK_CONSENT:
        _ask(t, subject_id)
    elif kind is ActionKind.SEND_LETTER:
        row = svc.approve_letter(t.ctx, t.session, actor, subject_id)
        _resolve(t, "escalation", subject_id, AlertKind.COURRIER_A_APPROUVER)
        t.notify("Courrier envoyé.")
        t.say(f"✉️ Procédure n° {subject_id} : accord enregistré, courrier de rappel des "
              f"obligations envoyé par e-mail{_deadline(row.letter_deadline)}.")
    elif kind is ActionKind.ALERT_BUYER:
        proc.alert_buyer(t.ctx, t.session, actor, subject_id)
        _resolve(t, "escalation", subject_id, AlertKind.ESCALADE_ECHEANCE)
        t.notify("Donneur d'ordre alerté.")
        t.say(f"📣 Procédure n° {subject_id} : le donneur d'ordre a été alerté par e-mail, avec "
              "le dossier.", buttons(proc.summary(t.ctx, t.session, actor, subject_id).actions))
    elif kind is ActionKind.RECORD_DEFAULT:
        proc.record_default(t.ctx, t.session, actor, subject_id)
        _show(t, subject_id, "📝 Défaillance notifiée par le donneur d'ordre : enregistrée.")
    elif kind is ActionKind.COMPUTE_PENALTIES:
        _penalties(t, subject_id)
    elif kind in (ActionKind.CLOSE_PENALISED, ActionKind.CLOSE_REGULARISED):
        penalised = kind is ActionKind.CLOSE_PENALISED
        proc.close_case(t.ctx, t.session, actor, subject_id, penalised=penalised)
        _resolve(t, "escalation", subject_id)
        t.say(f"🔒 Procédure n° {subject_id} close ({'pénalisée' if penalised else 'régularisée'}).")


def _deadline(deadline: Any) -> str:
    return f" ; échéance le {fr_date(deadline)}" if deadline else ""


def _resolve(t: Turn, subject_type: str, subject_id: int, kind: AlertKind | None = None) -> None:
    assert t.user is not None
    resolve_alerts(t.session, subject_type, subject_id, t.user.id, kind)


def _opened(t: Turn, opened: proc.Opened) -> None:
    head = (f"⚖️ Procédure n° {opened.case_id} ouverte : {opened.company_name}, marché "
            f"{opened.market_reference} lot {opened.lot_number}.")
    if opened.on_track:
        head += (f"\nÀ noter : l'entreprise est {opened.progress_label} sur cet engagement ; la "
                 "procédure est ouverte quand même.")
    _show(t, opened.case_id, head)


def _show(t: Turn, case_id: int, head: str | None = None) -> None:
    s = proc.summary(t.ctx, t.session, t.need_actor(), case_id)
    v = s.view
    lines = [head] if head else []
    lines.append(f"Procédure n° {v.case_id} · {v.company_name} · marché {v.market_reference} lot "
                 f"{v.lot_number} ({v.donneur_name}) — {v.state_label} ; {v.contacts} contact(s) "
                 f"dont {v.written_contacts} écrit(s)")
    if s.consent_fr:
        lines.append(s.consent_fr)
    lines.append("Historique :")
    lines.extend(f"• {step.description_fr}" for step in s.steps)
    lines.append(f"Étape suivante : {s.requirement_fr}")
    if v.state not in ("clos",):
        lines.append(f"Contact : « /procedure {v.case_id} contact telephone <note> » ; relance "
                     f"écrite : « /procedure {v.case_id} relance ».")
    t.say("\n".join(lines), buttons(s.actions))


def _ask(t: Turn, case_id: int) -> None:
    names = proc.request_consent(t.ctx, t.session, t.need_actor(), case_id)
    _resolve(t, "escalation", case_id, AlertKind.COURRIER_A_APPROUVER)
    t.notify("Accord demandé.")
    t.say(f"🤝 Procédure n° {case_id} : projet de courrier envoyé pour accord à "
          f"{', '.join(names)}. Son accord (réponse « accord » par e-mail, ou bouton dans le "
          "chat) enverra le courrier ; vous serez prévenu·e.")


def _penalties(t: Turn, case_id: int) -> None:
    _view, lines = proc.compute_case_penalties(t.ctx, t.session, t.need_actor(), case_id)
    s = proc.summary(t.ctx, t.session, t.need_actor(), case_id)
    t.say(f"🧮 Procédure n° {case_id} : pénalités calculées et envoyées au donneur d'ordre.\n"
          + "\n".join(f"• {line}" for line in lines), buttons(s.actions))


# --- commands -------------------------------------------------------------------------------

_OPEN = re.compile(r"^ouvrir\s+(?P<market>\S+)\s+(?:lot\s+(?P<lot>\d+)\s+)?(?P<rest>.+)$", re.I)


def cmd_procedure(t: Turn, args: str) -> None:
    actor = t.need_actor()
    words = args.split()
    if not words:
        cmd_relances(t, args)
        return
    if words[0].lower() == "ouvrir":
        match = _OPEN.match(" ".join(words))
        if match is None:
            t.say("Indiquez le marché et l'entreprise, par exemple « /procedure ouvrir 2025-017 "
                  "BTP Rhône » (ajoutez « lot 2 » si l'entreprise a plusieurs lots).")
            return
        rest = match.group("rest")
        company, _, note = rest.partition(" : ")
        engagement = proc.find_engagement(t.session, actor, match.group("market"), company.strip(),
                                          int(match.group("lot")) if match.group("lot") else None)
        _opened(t, proc.open_case(t.ctx, t.session, actor, engagement, note or None))
        return
    if not words[0].lstrip("n°").isdigit():
        t.say(USAGE)
        return
    case_id = int(words[0].lstrip("n°"))
    verb = words[1].lower() if len(words) > 1 else ""
    rest = " ".join(words[2:])
    if not verb:
        _show(t, case_id)
    elif verb == "contact":
        channel, _, note = rest.partition(" ")
        proc.log_contact(t.ctx, t.session, actor, case_id, channel, note)
        _show(t, case_id, f"📞 Contact enregistré ({channel}).")
    elif verb == "relance":
        proc.send_written_reminder(t.ctx, t.session, actor, case_id, rest or None)
        _show(t, case_id, "✉️ Relance écrite envoyée par e-mail à l'entreprise (PDF joint).")
    elif verb == "accord":
        _ask(t, case_id)
    elif verb == "alerter":
        proc.alert_buyer(t.ctx, t.session, actor, case_id, refused=rest.lower().startswith("refus"))
        _show(t, case_id, "📣 Donneur d'ordre alerté par e-mail, avec le dossier.")
    elif verb in ("defaillance", "défaillance"):
        proc.record_default(t.ctx, t.session, actor, case_id, rest or None)
        _show(t, case_id, "📝 Défaillance notifiée : enregistrée.")
    elif verb in ("penalites", "pénalités"):
        _penalties(t, case_id)
    elif verb == "clore":
        how, _, note = rest.partition(" ")
        if how.lower() not in ("regularise", "régularisé", "penalise", "pénalisé"):
            t.say(f"Précisez « regularise » ou « penalise », par exemple « /procedure {case_id} "
                  "clore regularise Plan de recrutement reçu ».")
            return
        penalised = how.lower().startswith("p")
        proc.close_case(t.ctx, t.session, actor, case_id, penalised=penalised, note=note or None)
        _resolve(t, "escalation", case_id)
        _show(t, case_id, f"🔒 Procédure close ({'pénalisée' if penalised else 'régularisée'}).")
    else:
        t.say(f"Action inconnue « {verb} ».\n{USAGE}")


def cmd_relances(t: Turn, args: str) -> None:
    cases = svc.open_cases(t.session, t.need_actor(), now=t.now)
    if not cases:
        t.say("Aucune procédure de relance en cours. Pour en ouvrir une : « /procedure ouvrir "
              "<marché> <entreprise> ».")
        return
    lines = [f"{len(cases)} procédure(s) de relance en cours :"]
    rows: Keyboard = []
    for c in cases[:30]:
        line = (f"n° {c.case_id} · {c.company_name} · marché {c.market_reference} lot "
                f"{c.lot_number} ({c.donneur_name}) — {c.state_label} ; {c.contacts} contact(s) "
                f"dont {c.written_contacts} écrit(s)")
        if c.letter_deadline is not None:
            passed = " (dépassée)" if c.deadline_passed else ""
            line += f" ; échéance du courrier : {fr_date(c.letter_deadline)}{passed}"
        lines.append(line)
        rows.append([encode(ActionButton(f"📂 n° {c.case_id}", ActionKind.SHOW_CASE, c.case_id))])
    t.say("\n".join(lines), rows)


def cmd_reponse(t: Turn, args: str) -> None:
    """A company's answer to its case: « /reponse [n°] texte »."""
    words = args.split(maxsplit=1)
    case_id = int(words[0]) if words and words[0].isdigit() else None
    text = words[1] if case_id is not None and len(words) > 1 else ("" if case_id else args)
    found = proc.company_answer(t.ctx, t.session, t.need_actor(), text, case_id)
    t.say(f"Merci : votre réponse est jointe à la procédure n° {found} et transmise à votre "
          "facilitateur·rice.")


def alert_actions(t: Turn, alert: Alert) -> Keyboard:
    """The buttons an escalation alert carried, while they still make sense (for /alertes)."""
    if alert.subject_id is None:
        return []
    if alert.kind == AlertKind.ENTREPRISE_EN_RETARD and alert.subject_type == "engagement":
        return [[encode(ActionButton("⚖️ Ouvrir une procédure", ActionKind.OPEN_CASE,
                                     alert.subject_id))]]
    if alert.subject_type == "escalation":
        try:
            return buttons(proc.summary(t.ctx, t.session, t.need_actor(), alert.subject_id).actions)
        except svc.CaseNotFound:
            return []
    return []
