"""/declarer: the guided monthly declaration, and the free-text shortcut that feeds it.

The flow fills a small draft (lot, contract, month, work hours, training hours, proof) and
always asks for the first missing piece (`advance`), so the guided path, the shortcut and a
correction after an error share one set of steps. Before the proof is asked, the draft goes
through the domain's rules (:func:`clauses.contract_lookup.check_declaration`, one read): an
impossible month ("the lot ended on 31/03/2025") is reported at once, with the step to redo.

Cheap steps (why): the contracts are listed once per flow, when it starts — only those running
in the months the flow offers, scoped and audit-logged by the domain — and the few fields the
screens need are kept in the conversation state (`offer`, narrowed as the user chooses). Later
steps read nothing else: a pressed lot or contract must be one of the ids in `offer` (a tampered
button is refused like a missing one), and the final write is authorised again by
`record_declaration`. So a step costs the update claim and the state, whatever the company's size.

Nothing twice: the confirmation carries a token; the declaration's idempotency key is built
from it, so a second tap, a replayed update or a restart between tap and answer records once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

from sqlalchemy import select

from bot import texts
from bot.flows.common import (
    CANCEL,
    chunks,
    in_step,
    iso_month,
    read_hours,
    with_cancel,
)
from bot.messages import IncomingFile
from bot.shortcut import fold, name_matches, parse_shortcut
from bot.turn import Flow, Turn, refuses_before_writing
from clauses.authz import NotAllowed
from clauses.contract_lookup import DeclarableContract, check_declaration, declarable_contracts
from clauses.counting import add_months, month_start
from clauses.declarations import record_declaration
from clauses.errors import (
    DomainError,
    DuplicateDeclarationError,
    HoursAboveMaximumError,
    HoursPrecisionError,
    MonthInFutureError,
    MonthOutsideContractError,
    MonthOutsideLotError,
    NegativeHoursError,
)
from clauses.formatting import fr_hours, fr_month, parse_month
from storage.models import DeclarationRevision, HourDeclaration

FLOW = "declarer"
MAX_BUTTONS = 30

MONTH_ERRORS = (MonthInFutureError, MonthOutsideContractError, MonthOutsideLotError,
                DuplicateDeclarationError)
HOURS_ERRORS = (NegativeHoursError, HoursPrecisionError, HoursAboveMaximumError)


# --- entry points ------------------------------------------------------------------------------


@refuses_before_writing
def cmd_declarer(t: Turn, args: str) -> None:
    if args.strip() and try_shortcut(t, args):
        return
    previous, before = offered_months(t)
    views = declarable_contracts(t.session, t.need_actor(), before, previous)
    if not views:
        t.say(
            f"Aucun contrat de salarié en insertion en cours en {fr_month(before)} ou "
            f"{fr_month(previous)} n'est enregistré pour votre entreprise. "
            "Contactez votre facilitateur·rice pour le faire enregistrer."
        )
        return
    t.conv.start(FLOW, "lot", token=t.new_token(), offer=_offer(views))
    advance(t)


def offered_months(t: Turn) -> tuple[dt.date, dt.date]:
    """(last month, the month before): the months the flow proposes, and lists contracts for."""
    previous = add_months(month_start(t.today), -1)
    return previous, add_months(previous, -1)


def try_shortcut(t: Turn, text: str) -> bool:
    """Handle "Dupont Marie 35h mars lot 2"; False when the text is not a declaration."""
    draft = parse_shortcut(text, t.today)
    if draft is None:
        return False
    if draft.month is not None:
        views = declarable_contracts(t.session, t.need_actor(), draft.month)
    else:  # the month will be asked among the offered ones
        previous, before = offered_months(t)
        views = declarable_contracts(t.session, t.need_actor(), before, previous)
    matches = [
        v for v in views
        if name_matches(draft.names, v.participant_name)
        and (draft.lot_number is None or v.lot_number == draft.lot_number)
        and (draft.market_reference is None or fold(v.market_reference) == draft.market_reference)
    ]
    if not matches:
        when = f" en {fr_month(draft.month)}" if draft.month else ""
        t.say(
            f"Je n'ai trouvé aucun contrat en cours{when} pour « {' '.join(draft.names)} »"
            + (f" sur le lot {draft.lot_number}" if draft.lot_number is not None else "")
            + ". Vérifiez le nom et le lot, ou tapez /declarer pour être guidé·e."
        )
        return True
    data: dict = {
        "token": t.new_token(),
        "work": str(draft.work_hours),
        "training": str(draft.training_hours or Decimal(0)),
        "proof_done": True,
        "shortcut": True,
        "offer": _offer(matches),
    }
    if draft.month is not None:
        data["month"] = draft.month.isoformat()
    lots = {v.lot_id for v in matches}
    if len(lots) == 1:
        data["lot_id"] = matches[0].lot_id
    if len(matches) == 1:
        data["contract_id"] = matches[0].contract_id
    t.conv.start(FLOW, "contract", **data)
    if len(matches) > 1:
        t.say("Plusieurs contrats correspondent à votre message.")
    advance(t)
    return True


# --- the steps ------------------------------------------------------------------------------


def _offer(views: list[DeclarableContract]) -> list[list]:
    """The rows kept in the state: what the buttons can show (MAX_BUTTONS lots, MAX_BUTTONS
    persons a lot), so the state stays small however large the company."""
    per_lot: dict[int, int] = {}
    kept = []
    for v in views:
        if v.lot_id not in per_lot and len(per_lot) >= MAX_BUTTONS:
            continue
        if per_lot.get(v.lot_id, 0) >= MAX_BUTTONS:
            continue
        per_lot[v.lot_id] = per_lot.get(v.lot_id, 0) + 1
        kept.append(v.to_state())
    return kept


def _views(t: Turn) -> list[DeclarableContract]:
    """The contracts still on offer in this flow (from the state: no query)."""
    d = t.conv.data
    if "offer" not in d:  # a flow saved before the offer was kept in the state: list once
        previous, before = offered_months(t)
        choices = d.pop("choices", None)
        views = declarable_contracts(t.session, t.need_actor(), before, previous)
        d["offer"] = _offer([v for v in views if not choices or v.contract_id in choices])
    return [DeclarableContract.from_state(row) for row in d["offer"]]


def _narrow(t: Turn, keep: Callable[[DeclarableContract], bool]) -> None:
    """Keep in the state only the offered contracts the user's choice leaves open."""
    t.conv.data["offer"] = [v.to_state() for v in _views(t) if keep(v)]


def advance(t: Turn) -> None:
    """Ask for the first missing piece of the draft (or show the summary)."""
    d = t.conv.data
    if "lot_id" not in d:
        _ask_lot(t)
    elif "contract_id" not in d:
        _ask_contract(t)
    elif "month" not in d:
        _ask_month(t)
    elif "work" not in d:
        t.conv.goto("work")
        t.say(
            f"{_who(t)} — {fr_month(iso_month(d['month']))}.\n"
            "Combien d'heures de travail ce mois-ci ? (par exemple « 35 » ou « 35h30 » ; "
            "/annuler pour abandonner)"
        )
    elif "training" not in d:
        t.conv.goto("training")
        t.say(
            "Combien d'heures de formation ce mois-ci ? Écrivez « 0 » s'il n'y en a pas."
        )
    elif not d.get("checked"):
        if _check(t):
            d["checked"] = True
            advance(t)
    elif not d.get("proof_done"):
        t.conv.goto("proof")
        t.say(
            "Justificatif (facultatif) : envoyez une photo ou un PDF (bulletin de paie, "
            "relevé d'heures), ou appuyez sur « Passer ».",
            [[("Passer", "d:skip")], [CANCEL]],
        )
    else:
        t.conv.goto("confirm")
        t.say(summary(t), [[("✅ Confirmer", f"d:ok:{d['token']}"), CANCEL]])


def _ask_lot(t: Turn) -> None:
    views = _views(t)
    lots: dict[int, DeclarableContract] = {}
    for v in views:
        lots.setdefault(v.lot_id, v)
    if len(lots) == 1:
        t.conv.data["lot_id"] = next(iter(lots))
        advance(t)
        return
    t.conv.goto("lot")
    buttons = [
        [(f"Marché {v.market_reference} · lot {v.lot_number} — {v.lot_label}"[:60], f"d:lot:{lot_id}")]
        for lot_id, v in list(lots.items())[:MAX_BUTTONS]
    ]
    t.say("Déclaration d'heures. Pour quel marché et quel lot ?", with_cancel(buttons))


def _ask_contract(t: Turn) -> None:
    lot_id = t.conv.data["lot_id"]
    views = [v for v in _views(t) if v.lot_id == lot_id]
    if not views:
        t.conv.end()
        t.say("Aucun contrat sur ce lot. Tapez /declarer pour recommencer.")
        return
    if len(views) == 1:
        t.conv.data["contract_id"] = views[0].contract_id
        _narrow(t, lambda v: v.contract_id == views[0].contract_id)
        advance(t)
        return
    t.conv.goto("contract")
    buttons = [(v.participant_name[:40], f"d:ct:{v.contract_id}") for v in views[:MAX_BUTTONS]]
    v0 = views[0]
    t.say(
        f"Marché {v0.market_reference}, lot {v0.lot_number}. Pour quelle personne ?",
        with_cancel(chunks(buttons, 2)),
    )


def _ask_month(t: Turn) -> None:
    t.conv.goto("month")
    previous, before = offered_months(t)
    t.say(
        f"{_who(t)}. Pour quel mois ? (le mois précédent, {fr_month(previous)}, par défaut ; "
        "vous pouvez aussi écrire le mois, par exemple « 03/2025 »)",
        [
            [(f"{fr_month(previous, capitalize=True)} (par défaut)", f"d:m:{previous:%Y-%m}")],
            [(fr_month(before, capitalize=True), f"d:m:{before:%Y-%m}")],
            [CANCEL],
        ],
    )


def _who(t: Turn) -> str:
    v = _view(t)
    return f"{v.participant_name}, marché {v.market_reference} lot {v.lot_number}" if v else "?"


def _view(t: Turn) -> DeclarableContract | None:
    cid = t.conv.data.get("contract_id")
    return next((v for v in _views(t) if v.contract_id == cid), None)


def summary(t: Turn) -> str:
    d = t.conv.data
    v = _view(t)
    proof = "joint" if d.get("proof_id") else "aucun"
    lines = ["Récapitulatif de la déclaration :"]
    if v is not None:
        lines += [
            f"• Marché {v.market_reference}, lot {v.lot_number} — {v.lot_label}",
            f"• Personne : {v.participant_name}",
        ]
    lines += [
        f"• Mois : {fr_month(iso_month(d['month']))}",
        f"• Heures de travail : {fr_hours(Decimal(d['work']))}",
        f"• Heures de formation : {fr_hours(Decimal(d['training']))}",
        f"• Justificatif : {proof}",
        "",
        "Confirmez-vous ?",
    ]
    return "\n".join(lines)


def _record(t: Turn):
    d = t.conv.data
    with t.session.begin_nested():  # a refusal leaves nothing half-written
        return record_declaration(
            t.ctx, t.session, t.need_actor(),
            contract_id=int(d["contract_id"]),
            month=iso_month(d["month"]),
            work_hours=Decimal(d["work"]),
            training_hours=Decimal(d["training"]),
            source=t.incoming.channel,
            idempotency_key=t.idempotency_key(d["token"]),
            proof_document_id=d.get("proof_id"),
        )


def _check(t: Turn) -> bool:
    """Validate the draft with the domain's rules (one read, nothing written); on refusal,
    say why and reopen the step to redo. `record_declaration` checks again at the write."""
    d = t.conv.data
    try:
        check_declaration(
            t.ctx, t.session, t.need_actor(),
            contract_id=int(d["contract_id"]), month=iso_month(d["month"]),
            work_hours=Decimal(d["work"]), training_hours=Decimal(d["training"]),
        )
    except DomainError as err:
        _reopen_after(t, err)
        return False
    return True


def _reopen_after(t: Turn, err: DomainError) -> None:
    d = t.conv.data
    d.pop("checked", None)
    if isinstance(err, MONTH_ERRORS):
        existing = None
        if isinstance(err, DuplicateDeclarationError):
            existing = t.session.scalar(
                select(HourDeclaration.id).where(
                    HourDeclaration.contract_id == int(d["contract_id"]),
                    HourDeclaration.month == iso_month(d["month"]),
                )
            )
        d.pop("month", None)
        buttons = [[("✏️ Corriger la déclaration existante", f"mc:{existing}")]] if existing else None
        t.say(err.message_fr + "\nChoisissez un autre mois.", buttons)
        advance(t)
    elif isinstance(err, HOURS_ERRORS):
        d.pop("work", None)
        d.pop("training", None)
        t.say(err.message_fr)
        advance(t)
    else:
        t.conv.end()
        t.say(err.message_fr + "\nLa déclaration n'a pas été enregistrée.")


# --- inputs ----------------------------------------------------------------------------------


@refuses_before_writing
def on_text(t: Turn, text: str) -> None:
    d = t.conv.data
    step = t.conv.step
    if step == "month":
        d["month"] = parse_month(text, today=t.today).isoformat()
        advance(t)
    elif step == "work":
        d["work"] = str(read_hours(text, "travail", t.ctx.rulebook.hours.monthly_hours_max))
        advance(t)
    elif step == "training":
        d["training"] = str(read_hours(text, "formation", t.ctx.rulebook.hours.monthly_hours_max))
        advance(t)
    elif step == "proof" and fold(text) in ("passer", "non", "aucun"):
        d["proof_done"] = True
        advance(t)
    else:
        t.say(texts.CONTEXT_HELP.get(t.conv.where or "", texts.NOT_UNDERSTOOD))


def on_file(t: Turn, file: IncomingFile) -> None:
    assert file.data is not None
    doc = t.ctx.documents.store(t.session, file.data, kind="proof", display_name=file.display_name)
    t.conv.data["proof_id"] = doc.id
    t.conv.data["proof_done"] = True
    t.say("Justificatif reçu.")
    advance(t)


@refuses_before_writing
def on_callback(t: Turn, parts: list[str]) -> None:
    """d:lot:<id>, d:ct:<id>, d:m:<YYYY-MM>, d:skip, d:ok:<token>.

    Ids are checked against the contracts offered in this flow (kept in the state), so a
    tampered button is refused, without a query and without saying whether the id exists.
    The declaration writes in its own savepoint (`_record`): nothing else here writes.
    """
    verb = parts[0] if parts else ""
    arg = parts[1] if len(parts) > 1 else ""
    if verb == "ok":
        _confirm(t, arg)
        return
    steps = {"lot": "lot", "ct": "contract", "m": "month", "skip": "proof"}
    if verb not in steps:
        t.notify(texts.BAD_BUTTON)
        return
    if not in_step(t, FLOW, steps[verb]):
        return
    d = t.conv.data
    t.clear_source_keyboard = True
    if verb == "lot":
        if not arg.isdigit() or int(arg) not in {v.lot_id for v in _views(t)}:
            raise NotAllowed()
        d["lot_id"] = int(arg)
        _narrow(t, lambda v: v.lot_id == d["lot_id"])
    elif verb == "ct":
        allowed = {v.contract_id for v in _views(t) if v.lot_id == d.get("lot_id")}
        if not arg.isdigit() or int(arg) not in allowed:
            raise NotAllowed()
        d["contract_id"] = int(arg)
        _narrow(t, lambda v: v.contract_id == d["contract_id"])
    elif verb == "m":
        d["month"] = parse_month(arg).isoformat()
    elif verb == "skip":
        d["proof_done"] = True
    advance(t)


def _confirm(t: Turn, token: str) -> None:
    if t.conv.flow != FLOW or t.conv.step != "confirm" or t.conv.data.get("token") != token:
        done = t.session.scalar(
            select(DeclarationRevision.id).where(
                DeclarationRevision.idempotency_key == t.idempotency_key(token)
            )
        )
        t.clear_source_keyboard = True
        t.notify("Cette déclaration est déjà enregistrée." if done else "Ce bouton n'est plus actif.")
        return
    t.clear_source_keyboard = True
    try:
        outcome = _record(t)
    except DomainError as err:
        _reopen_after(t, err)
        return
    d = t.conv.data
    t.conv.end()
    decl = outcome.declaration
    if outcome.status == "duplicate":
        t.notify("Cette déclaration est déjà enregistrée.")
        return
    lines = [
        f"✅ Déclaration enregistrée : {fr_month(decl.month)}, "
        f"{fr_hours(decl.work_hours)} de travail et {fr_hours(decl.training_hours)} de formation.",
        f"Heures comptées pour la clause : {fr_hours(outcome.counted)}.",
    ]
    lines += [f"⚠️ {w}" for w in outcome.warnings]
    if d.get("shortcut"):
        lines.append("Pour joindre un justificatif, utilisez /declarer.")
    t.notify("Déclaration enregistrée.")
    t.say("\n".join(lines))


FLOW_DEF = Flow(name=FLOW, on_text=on_text, on_file=on_file, file_steps=frozenset({"proof"}))
