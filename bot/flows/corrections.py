"""/mes_declarations: the company's recent declarations, and their correction.

A correction is a new revision recorded by the domain (`correction_reason` given), never an
overwrite. The "Corriger" button carries a declaration id: it is re-authorised on every press,
so a tampered id for another company's declaration is refused like a missing one.
"""

from __future__ import annotations

from decimal import Decimal

from bot import texts
from bot.flows.common import CANCEL, chunks, in_step, iso_month, read_hours
from bot.turn import Flow, Turn
from clauses.authz import Action, NotAllowed, authorize
from clauses.declaration_reads import declaration_with_participant, revision_recorded
from clauses.declarations import declarations_for_actor, record_declaration
from clauses.errors import DomainError
from clauses.formatting import fr_hours, fr_month
from storage.models import DeclarationStatus

FLOW = "corriger"
LIST_LIMIT = 10


def cmd_mes_declarations(t: Turn, args: str) -> None:
    views = declarations_for_actor(t.session, t.need_actor(), limit=LIST_LIMIT)
    if not views:
        t.say("Aucune déclaration enregistrée pour le moment. Tapez /declarer pour en faire une.")
        return
    lines = [f"Vos dernières déclarations ({len(views)}) :"]
    buttons = []
    for n, v in enumerate(views, start=1):
        revision = f", révision {v.revision}" if v.revision > 1 else ""
        lines.append(
            f"{n}. {v.participant_name} — {fr_month(v.month)} — marché {v.market_reference} "
            f"lot {v.lot_number} : {fr_hours(v.work_hours)} de travail, "
            f"{fr_hours(v.training_hours)} de formation → {fr_hours(v.counted_hours)} "
            f"comptées{revision}{_control(v)}"
        )
        buttons.append((f"✏️ Corriger n° {n}", f"mc:{v.declaration_id}"))
    t.say("\n".join(lines), chunks(buttons, 2))


def _control(v) -> str:
    """The facilitator's decision, so that a contested line is seen with what to fix."""
    if v.status == DeclarationStatus.VALIDEE:
        return " — ✅ validée"
    if v.status == DeclarationStatus.CONTESTEE:
        return f" — ❗ contestée : « {v.control_reason} » (corrigez-la ou envoyez le justificatif)"
    return ""


def start_correction(t: Turn, parts: list[str]) -> None:
    """mc:<declaration id> — re-authorised here, whatever the button said."""
    if len(parts) != 1 or not parts[0].isdigit():
        t.notify("Bouton non reconnu.")
        return
    decl_id = int(parts[0])
    row = declaration_with_participant(t.session, decl_id)
    if row is None:
        raise NotAllowed()
    decl, person = row
    # Authorised on the declaration's contract: same rule, and the refusal is the same
    # whether the id exists or not.
    authorize(t.session, t.need_actor(), Action.DECLARATION_WRITE, "contract", decl.contract_id)
    if t.conv.active:
        t.conv.end()
    t.conv.start(
        FLOW, "work", decl_id=decl.id, contract_id=decl.contract_id, month=decl.month.isoformat(),
        name=person.display_name, old_work=str(decl.work_hours),
        old_training=str(decl.training_hours), token=t.new_token(),
    )
    t.say(
        f"Correction : {person.display_name}, {fr_month(decl.month)} (actuellement "
        f"{fr_hours(decl.work_hours)} de travail, {fr_hours(decl.training_hours)} de formation).\n"
        "Nouveau nombre d'heures de travail ? (/annuler pour abandonner)"
    )


def on_text(t: Turn, text: str) -> None:
    d = t.conv.data
    if t.conv.step == "work":
        d["work"] = str(read_hours(text, "travail", t.ctx.rulebook.hours.monthly_hours_max))
        t.conv.goto("training")
        t.say("Nouveau nombre d'heures de formation ? (« 0 » s'il n'y en a pas)")
    elif t.conv.step == "training":
        d["training"] = str(read_hours(text, "formation", t.ctx.rulebook.hours.monthly_hours_max))
        t.conv.goto("reason")
        t.say("En quelques mots, pourquoi cette correction ? (par exemple « erreur de saisie »)")
    elif t.conv.step == "reason":
        reason = text.strip()[:300]
        if len(reason) < 3:
            t.say("Indiquez la raison en quelques mots, s'il vous plaît.")
            return
        d["reason"] = reason
        t.conv.goto("confirm")
        t.say(
            "Récapitulatif de la correction :\n"
            f"• Personne : {d['name']}\n"
            f"• Mois : {fr_month(iso_month(d['month']))}\n"
            f"• Travail : {fr_hours(Decimal(d['old_work']))} → {fr_hours(Decimal(d['work']))}\n"
            f"• Formation : {fr_hours(Decimal(d['old_training']))} → "
            f"{fr_hours(Decimal(d['training']))}\n"
            f"• Raison : {reason}\n\nConfirmez-vous ?",
            [[("✅ Confirmer", f"k:ok:{d['token']}"), CANCEL]],
        )
    else:
        t.say(texts.CONTEXT_HELP.get(t.conv.where or "", texts.NOT_UNDERSTOOD))


def on_callback(t: Turn, parts: list[str]) -> None:
    """k:ok:<token>: record the correction as a new revision."""
    if len(parts) != 2 or parts[0] != "ok":
        t.notify("Bouton non reconnu.")
        return
    token = parts[1]
    t.clear_source_keyboard = True
    if not in_step(t, FLOW, "confirm") or t.conv.data.get("token") != token:
        done = revision_recorded(t.session, t.idempotency_key(token))
        if done:
            t.notify("Cette correction est déjà enregistrée.")
        return
    d = t.conv.data
    try:
        with t.session.begin_nested():  # a refusal leaves nothing half-written
            outcome = record_declaration(
                t.ctx, t.session, t.need_actor(),
                contract_id=int(d["contract_id"]), month=iso_month(d["month"]),
                work_hours=Decimal(d["work"]), training_hours=Decimal(d["training"]),
                source=t.incoming.channel, idempotency_key=t.idempotency_key(token),
                correction_reason=d["reason"],
            )
    except DomainError as err:
        t.conv.goto("work")
        t.say(err.message_fr + "\nNouveau nombre d'heures de travail ? (/annuler pour abandonner)")
        return
    t.conv.end()
    if outcome.status == "unchanged":
        t.say("Les chiffres sont identiques à ceux déjà enregistrés : rien n'a été modifié.")
        return
    decl = outcome.declaration
    lines = [
        f"✅ Correction enregistrée (révision {decl.revision}) : {fr_month(decl.month)}, "
        f"{fr_hours(decl.work_hours)} de travail, {fr_hours(decl.training_hours)} de formation.",
        f"Heures comptées pour la clause : {fr_hours(outcome.counted)}.",
    ]
    lines += [f"⚠️ {w}" for w in outcome.warnings]
    t.notify("Correction enregistrée.")
    t.say("\n".join(lines))


FLOW_DEF = Flow(name=FLOW, on_text=on_text)
