"""Facilitators: alert buttons (candidature decision, alert handled) and the /entreprise and
/alertes commands (the escalation's buttons and commands are in bot.flows.escalation).

Every button is re-authorised when pressed (the domain's `authorize` or the decision service
itself): callback data are only a hint of what the user wants, never a proof of a right.
"""

from __future__ import annotations

from bot import texts
from bot.flows import escalation
from bot.flows.common import CANCEL
from bot.turn import Flow, Turn
from clauses import audit, directory
from clauses.alert_digest import KIND_FR, kind_word, parse_kind
from clauses.alerts import handle_alert, open_alert_counts, open_alerts, resolve_alerts
from clauses.authz import Action, NotAllowed, authorize
from clauses.formatting import fr_datetime, fr_hours
from clauses.siret import format_siret
from storage.models import (
    Alert,
    AlertKind,
    Candidature,
    CandidatureStatus,
    Company,
    Role,
    User,
)

REFUSAL_FLOW = "refus"


# --- candidature decisions ------------------------------------------------------------------


def on_candidature(t: Turn, parts: list[str]) -> None:
    """cand:ok:<id> validates; cand:no:<id> asks for the reason, then refuses."""
    if len(parts) != 2 or parts[0] not in ("ok", "no") or not parts[1].isdigit():
        t.notify(texts.BAD_BUTTON)
        return
    verb, cand_id = parts[0], int(parts[1])
    actor = t.need_actor()
    authorize(t.session, actor, Action.CANDIDATURE_DECIDE, "candidature", cand_id)
    cand = t.session.get(Candidature, cand_id)
    if cand is None:
        raise NotAllowed()
    if cand.status != CandidatureStatus.A_VALIDER:
        t.clear_source_keyboard = True
        t.notify("Cette candidature a déjà été traitée.")
        t.say(f"La candidature n° {cand_id} a déjà été traitée ({_status_fr(cand.status)}).")
        return
    if verb == "ok":
        from clauses.candidatures import decide_candidature

        decide_candidature(t.ctx, t.session, actor, cand_id, accept=True)
        _resolve_alerts(t, "candidature", cand_id)
        t.clear_source_keyboard = True
        t.notify("Candidature validée.")
        from bot.flows.candidature_profile import validation_hint

        t.say(f"✅ Candidature n° {cand_id} validée.{_informed(t, cand)}"
              + validation_hint(t, cand_id))
        return
    if t.conv.active:
        t.conv.end()
    t.conv.start(REFUSAL_FLOW, "reason", candidature_id=cand_id)
    t.say(
        f"Motif du refus de la candidature n° {cand_id} ? Il sera transmis à qui l'a proposée. "
        "(/annuler pour ne pas refuser)",
        [[CANCEL]],
    )


def _informed(t: Turn, cand: Candidature) -> str:
    """Who the decision notice went to, as the domain sent it (to whoever proposed the
    candidate): never « l'entreprise » for a prescriber's e-mail with no company."""
    submitter = t.session.get(User, cand.submitted_by_user_id) if cand.submitted_by_user_id else None
    if submitter is not None and submitter.role == Role.ENTREPRISE:
        return " L'entreprise qui l'a proposée en est informée."
    if submitter is not None and submitter.role == Role.PRESCRIPTEUR:
        return " Le prescripteur qui l'a proposée en est informé."
    if submitter is not None or cand.submitted_by_email:
        told = (" Le prescripteur qui l'a proposée en est informé par e-mail." if cand.prescriber_id
                else " La personne qui l'a proposée en est informée par e-mail.")
    else:
        told = ""
    if cand.company_id is None:
        told += " Aucune entreprise n'est encore désignée pour ce candidat."
    return told


def _status_fr(status: CandidatureStatus) -> str:
    return {
        CandidatureStatus.A_VALIDER: "à valider",
        CandidatureStatus.VALIDEE: "validée",
        CandidatureStatus.REFUSEE: "refusée",
        CandidatureStatus.EMBAUCHEE: "embauche enregistrée",
        CandidatureStatus.RETIREE: "retirée",
    }.get(status, str(status))


def on_refusal_text(t: Turn, text: str) -> None:
    reason = " ".join(text.split())[:500]
    if len(reason) < 3:
        t.say("Indiquez le motif en quelques mots, s'il vous plaît.")
        return
    from clauses.candidatures import decide_candidature

    cand_id = int(t.conv.data["candidature_id"])
    decide_candidature(t.ctx, t.session, t.need_actor(), cand_id, accept=False, reason=reason)
    _resolve_alerts(t, "candidature", cand_id)
    t.conv.end()
    t.say(f"Candidature n° {cand_id} refusée. Le motif est transmis à qui l'a proposée.")


REFUSAL_FLOW_DEF = Flow(name=REFUSAL_FLOW, on_text=on_refusal_text)


def _resolve_alerts(t: Turn, subject_type: str, subject_id: int,
                    kind: AlertKind | None = None) -> None:
    """The decision answers the alert that asked for it: mark it handled too."""
    assert t.user is not None
    resolve_alerts(t.session, subject_type, subject_id, t.user.id, kind)


# --- alerts -------------------------------------------------------------------------------------


def on_alert(t: Turn, parts: list[str]) -> None:
    """alert:done:<id> marks the alert handled (once; a second press says so)."""
    if len(parts) != 2 or parts[0] != "done" or not parts[1].isdigit():
        t.notify(texts.BAD_BUTTON)
        return
    actor = t.need_actor()
    authorize(t.session, actor, Action.ALERT_HANDLE)
    assert t.user is not None
    alert = handle_alert(t.session, int(parts[1]), t.user.id)
    if alert is None:
        raise NotAllowed()
    t.clear_source_keyboard = True
    if alert.handled_by_id != t.user.id:
        t.notify("Cette alerte avait déjà été traitée.")
    else:
        audit.record(t.session, actor, "alert.handled", "alert", alert.id)
        t.notify(f"Alerte n° {alert.id} marquée traitée.")


def cmd_alertes(t: Turn, args: str) -> None:
    """/alertes: the latest open alerts with their buttons; /alertes <type>: those of one kind
    (what a digest of many alerts points to)."""
    assert t.user is not None
    mine = None if t.user.role == Role.ADMIN else t.user.id
    kind = None
    if args.strip():
        kinds = parse_kind(args)
        if len(kinds) != 1:
            known = ", ".join(kind_word(k) for k in AlertKind)
            t.say(f"Type d'alerte inconnu : « {args.strip()[:40]} ». Types possibles : {known}. "
                  "Par exemple « /alertes facturation », ou « /alertes » pour toutes."
                  if not kinds else
                  f"« {args.strip()[:40]} » désigne plusieurs types : "
                  f"{', '.join(kind_word(k) for k in kinds)}. Précisez, par exemple "
                  f"« /alertes {kind_word(kinds[0])} ».")
            return
        kind = kinds[0]
    alerts = open_alerts(t.session, mine, limit=LIST_SIZE, kind=kind)
    if not alerts:
        t.say(f"Aucune alerte « {KIND_FR[kind]} » en attente. 👍" if kind
              else "Aucune alerte en attente. 👍")
        return
    lines = [_alert_list_header(open_alert_counts(t.session, mine), kind, len(alerts))]
    buttons = []
    for a in alerts:
        first_line = a.message.splitlines()[0] if a.message else ""
        lines.append(f"n° {a.id} ({fr_datetime(a.created_at)}) : {first_line[:150]}")
        # An alert waiting for a decision is handled by the decision: its own buttons only,
        # never « ✅ Valider » beside « ✅ Traitée ».
        buttons.append(_actions(t, a) or [(f"☑️ Traitée n° {a.id}", f"alert:done:{a.id}")])
    t.say("\n".join(lines), buttons)


LIST_SIZE = 15
"""Alerts shown by /alertes (the latest; the header counts them all)."""


def _alert_list_header(counts: dict[AlertKind, int], kind: AlertKind | None, shown: int) -> str:
    total = counts.get(kind, 0) if kind else sum(counts.values())
    what = f"alerte(s) « {KIND_FR[kind]} »" if kind else "alerte(s)"
    if total <= shown:
        return f"{shown} {what} à traiter :"
    per_kind = "" if kind else " (" + ", ".join(
        f"{n} {kind_word(k)}" for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].value))) + ")"
    return f"{total} {what} à traiter{per_kind}, les {shown} plus récentes :"


def _actions(t: Turn, alert: Alert) -> list[tuple[str, str]]:
    """The buttons the alert carried when it was pushed, for alerts still waiting for them."""
    if alert.subject_id is None:
        return []
    if (alert.kind == AlertKind.CANDIDATURE_A_VALIDER and alert.subject_type == "candidature"
            and directory.candidature_awaits_decision(t.session, alert.subject_id)):
        return [(f"✅ Valider n° {alert.subject_id}", f"cand:ok:{alert.subject_id}"),
                ("❌ Refuser", f"cand:no:{alert.subject_id}")]
    return [b for row in escalation.alert_actions(t, alert) for b in row]


# --- /entreprise ------------------------------------------------------------------------------


def cmd_entreprise(t: Turn, args: str) -> None:
    query = " ".join(args.split())[:100]
    if not query:
        t.say("Indiquez le nom ou le SIRET de l'entreprise, par exemple « /entreprise BTP Rhône ».")
        return
    companies = directory.search_companies(t.session, t.need_actor(), query)
    if not companies:
        t.say(f"Aucune entreprise ne correspond à « {query} ».")
    elif len(companies) > 1:
        more = " (les 10 premières)" if len(companies) > 10 else ""
        t.say(
            f"Plusieurs entreprises correspondent{more} : choisissez.",
            [[(c.name[:50], f"ent:{c.id}")] for c in companies[:10]],
        )
    else:
        _show_company(t, companies[0])


def on_company(t: Turn, parts: list[str]) -> None:
    if len(parts) != 1 or not parts[0].isdigit():
        t.notify(texts.BAD_BUTTON)
        return
    authorize(t.session, t.need_actor(), Action.ENGAGEMENT_READ, "company", int(parts[0]))
    company = t.session.get(Company, int(parts[0]))
    if company is None:
        raise NotAllowed()
    _show_company(t, company)


def _show_company(t: Turn, company: Company) -> None:
    actor = t.need_actor()
    audit.record(t.session, actor, "company.read", "company", company.id)
    card = directory.company_card(t.session, actor, company)
    facilitator, engagement_ids = card.facilitator_name, card.engagement_ids
    pending, open_cases = card.pending_candidatures, card.open_cases
    lines = [
        f"🏢 {company.name} — SIRET {format_siret(company.siret)} ({company.kind})",
        f"Facilitateur·rice : {facilitator or 'non désigné·e'}",
    ]
    try:
        from clauses.progress_service import progress_for_actor

        views = [v for v in progress_for_actor(t.ctx, t.session, actor, t.today)
                 if v.engagement_id in engagement_ids]
    except ImportError:
        views = []
    if views:
        lines.append("Engagements :")
        for v in views:
            lines.append(
                f"• {v.market_reference} {v.lot_label} : {fr_hours(v.done)} / {fr_hours(v.owed)} "
                f"(attendu {fr_hours(v.expected)}) — {v.status_label}"
            )
    elif engagement_ids:
        lines.append(f"Engagements : {len(engagement_ids)}")
    else:
        lines.append("Aucun engagement d'heures.")
    lines.append(f"Candidatures à valider : {pending}")
    lines.append(f"Procédures de relance ouvertes : {open_cases}")
    t.say("\n".join(lines))


def on_bilan(t: Turn, parts: list[str]) -> None:
    """bilan:ok:<donneur id>:<year>: the facilitator approves the annual bilan's mailing."""
    if len(parts) != 3 or parts[0] != "ok" or not (parts[1].isdigit() and parts[2].isdigit()):
        t.notify(texts.BAD_BUTTON)
        return
    from clauses.reminders import approve_annual_bilan

    donneur_id, year = int(parts[1]), int(parts[2])
    authorize(t.session, t.need_actor(), Action.ALERT_HANDLE)
    authorize(t.session, t.need_actor(), Action.BILAN_READ, "donneur", donneur_id)
    t.clear_source_keyboard = True
    approved = approve_annual_bilan(t.ctx, t.session, t.need_actor(), donneur_id, year)
    _resolve_alerts(t, "donneur", donneur_id, AlertKind.BILAN_ANNUEL)
    t.notify("Bilan approuvé." if approved else "Déjà approuvé.")
    t.say(f"✅ Bilan annuel {year} approuvé : il part aux référents au prochain passage de la tâche."
          if approved else f"Le bilan annuel {year} était déjà approuvé : rien à faire.")
