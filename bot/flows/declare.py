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
from bot.shortcut import ShortcutDraft, fold, name_matches, suggest_names, understand
from bot.turn import Flow, Turn, refuses_before_writing
from clauses.authz import NotAllowed
from clauses.contract_lookup import (
    DeclarableContract,
    check_declaration,
    declarable_contracts,
    declared_months,
)
from clauses.counting import add_months, month_start
from clauses.declaration_reads import declaration_id_for_month, revision_recorded
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
    ParticipantNotValidatedError,
)
from clauses.formatting import fr_hours, fr_month, parse_month

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
    """Handle « Dupont Marie 35h mars lot 2 » (or several people); False when the text is not
    a declaration at all. A message understood but wrong is refused with its reason."""
    result = understand(text, t.today)
    if result is None:
        return False
    if result.refusal:
        t.say(f"{result.refusal}\nRien n'a été enregistré. Corrigez le message, ou tapez "
              "/declarer pour être guidé·e.")
        return True
    if len(result.drafts) > 1:
        _shortcut_many(t, result.drafts)
        return True
    draft = result.drafts[0]
    views = _views_for(t, draft.month)
    matches = _matching(draft, views)
    if not matches:
        _offer_suggestions(t, draft, views)
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


def _views_for(t: Turn, month: dt.date | None) -> list[DeclarableContract]:
    if month is not None:
        return declarable_contracts(t.session, t.need_actor(), month)
    previous, before = offered_months(t)  # the month will be asked among the offered ones
    return declarable_contracts(t.session, t.need_actor(), before, previous)


def _matching(draft: ShortcutDraft, views: list[DeclarableContract]) -> list[DeclarableContract]:
    return [
        v for v in views
        if name_matches(draft.names, v.participant_name)
        and (draft.lot_number is None or v.lot_number == draft.lot_number)
        and (draft.market_reference is None or fold(v.market_reference) == draft.market_reference)
    ]


def _no_contract(t: Turn, draft: ShortcutDraft, views: list[DeclarableContract]) -> str:
    """Why no contract fits, with « vouliez-vous dire … ? » from the company's own people."""
    when = f" en {fr_month(draft.month)}" if draft.month else ""
    typed = " ".join(draft.names)
    text = (f"Je n'ai trouvé aucun contrat en cours{when} pour « {typed} »"
            + (f" sur le lot {draft.lot_number}" if draft.lot_number is not None else "") + ".")
    close = suggest_names(draft.names, [v.participant_name for v in views])
    if close and not any(name_matches(draft.names, c) for c in close):
        text += " Vouliez-vous dire " + " ou ".join(f"« {c} »" for c in close) + " ?"
    return text + " Vérifiez le nom et le lot, ou tapez /declarer pour être guidé·e."


def _offer_suggestions(t: Turn, draft: ShortcutDraft, views: list[DeclarableContract]) -> None:
    """No contract for the name typed: say so, and when the company has people with a close
    name, offer them as buttons that carry on with the same hours and month."""
    text = _no_contract(t, draft, views)
    close = set(suggest_names(draft.names, [v.participant_name for v in views]))
    suggested = [v for v in views if v.participant_name in close
                 and (draft.lot_number is None or v.lot_number == draft.lot_number)][:6]
    if not suggested or any(name_matches(draft.names, c) for c in close):
        t.say(text)
        return
    data: dict = {"token": t.new_token(), "work": str(draft.work_hours),
                  "training": str(draft.training_hours or Decimal(0)), "proof_done": True,
                  "shortcut": True, "offer": _offer(suggested)}
    if draft.month is not None:
        data["month"] = draft.month.isoformat()
    t.conv.start(FLOW, "suggest", **data)
    buttons = [[(f"{v.participant_name} — lot {v.lot_number}"[:60], f"d:sug:{v.contract_id}")]
               for v in suggested]
    t.say(text, with_cancel(buttons))


def _shortcut_many(t: Turn, drafts: tuple[ShortcutDraft, ...]) -> None:
    """Several people in one message: each must name one contract and a month, and pass the
    domain's checks; then one summary and one confirmation record them all, or none."""
    problems: list[str] = []
    items: list[list] = []
    views_by_month: dict[dt.date | None, list[DeclarableContract]] = {}
    for draft in drafts:
        who = " ".join(draft.names)
        if draft.month is None:
            problems.append(f"« {who} » : précisez le mois (par exemple « novembre »).")
            continue
        if draft.month not in views_by_month:
            views_by_month[draft.month] = _views_for(t, draft.month)
        views = views_by_month[draft.month]
        matches = _matching(draft, views)
        if not matches:
            problems.append(_no_contract(t, draft, views).split(" Vérifiez")[0])
            continue
        if len(matches) > 1:
            problems.append(f"« {who} » : plusieurs contrats correspondent ; précisez le lot "
                            "(« lot 2 ») ou le prénom.")
            continue
        v = matches[0]
        training = draft.training_hours or Decimal(0)
        try:
            check_declaration(t.ctx, t.session, t.need_actor(), contract_id=v.contract_id,
                              month=draft.month, work_hours=draft.work_hours,
                              training_hours=training)
        except DomainError as err:
            problems.append(f"{v.participant_name} : {err.message_fr}")
            continue
        items.append([v.contract_id, draft.month.isoformat(), str(draft.work_hours),
                      str(training), f"{v.participant_name}, marché {v.market_reference} "
                      f"lot {v.lot_number}"])
    if problems:
        t.say("Je n'ai rien enregistré :\n• " + "\n• ".join(problems)
              + "\nCorrigez le message et renvoyez-le, ou tapez /declarer pour être guidé·e.")
        return
    token = t.new_token()
    t.conv.start(FLOW, "confirm_many", token=token, items=items)
    lines = [f"Récapitulatif ({len(items)} déclarations) :"]
    lines += [f"• {who} — {fr_month(iso_month(month))} : {fr_hours(Decimal(work))} de travail, "
              f"{fr_hours(Decimal(training))} de formation"
              for _, month, work, training, who in items]
    lines += ["", "Confirmez-vous l'ensemble ?"]
    t.say("\n".join(lines), [[("✅ Confirmer", f"d:okm:{token}"), CANCEL]])


def _confirm_many(t: Turn, token: str) -> None:
    if t.conv.flow != FLOW or t.conv.step != "confirm_many" or t.conv.data.get("token") != token:
        t.clear_source_keyboard = True
        done = revision_recorded(t.session, t.idempotency_key(f"{token}:0"))
        t.notify("Ces déclarations sont déjà enregistrées." if done else "Ce bouton n'est plus actif.")
        return
    t.clear_source_keyboard = True
    items = t.conv.data["items"]
    lines: list[str] = []
    try:
        with t.session.begin_nested():  # all of them or none
            for n, (contract_id, month, work, training, who) in enumerate(items):
                outcome = record_declaration(
                    t.ctx, t.session, t.need_actor(), contract_id=int(contract_id),
                    month=iso_month(month), work_hours=Decimal(work),
                    training_hours=Decimal(training), source=t.incoming.channel,
                    idempotency_key=t.idempotency_key(f"{token}:{n}"),
                )
                lines.append(f"✅ {who} — {fr_month(iso_month(month))} : "
                             f"{fr_hours(outcome.counted)} comptées pour la clause.")
                lines += [f"   ⚠️ {w}" for w in outcome.warnings]
    except DomainError as err:
        t.conv.end()
        t.say(f"{err.message_fr}\nAucune de ces déclarations n'a été enregistrée.")
        return
    t.conv.end()
    t.notify("Déclarations enregistrées.")
    t.say("\n".join([f"{len(items)} déclarations enregistrées :", *lines]))


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
    """The offered months; one already declared is offered as its correction, never as the
    default."""
    t.conv.goto("month")
    previous, before = offered_months(t)
    declared = declared_months(t.session, t.need_actor(), int(t.conv.data["contract_id"]),
                               [previous, before])
    default = next((m for m in (previous, before) if m not in declared), None)
    rows = []
    for m in (previous, before):
        if m in declared:
            rows.append([(f"✏️ {fr_month(m, capitalize=True)} : déjà déclaré, corriger",
                          f"mc:{declared[m]}")])
        else:
            rows.append([(fr_month(m, capitalize=True) + (" (par défaut)" if m == default else ""),
                          f"d:m:{m:%Y-%m}")])
    hint = (f"(le mois précédent, {fr_month(previous)}, par défaut ; " if default == previous
            else "(")
    t.say(
        f"{_who(t)}. Pour quel mois ? {hint}vous pouvez aussi écrire le mois, par exemple "
        f"« {before:%m/%Y} »)",
        [*rows, [CANCEL]],
    )


def _month_ok(t: Turn) -> bool:
    """Check the chosen month at once (future, outside the contract or lot, already declared,
    person not validated), before any hours are asked for it."""
    d = t.conv.data
    try:
        check_declaration(t.ctx, t.session, t.need_actor(), contract_id=int(d["contract_id"]),
                          month=iso_month(d["month"]), work_hours=Decimal(0))
    except (*MONTH_ERRORS, ParticipantNotValidatedError) as err:
        _reopen_after(t, err)
        return False
    except DomainError:
        pass  # anything else is about the hours: told at their step
    return True


def _work_ok(t: Turn) -> bool:
    """Check the work hours against the month's limit at the hours step."""
    d = t.conv.data
    try:
        check_declaration(t.ctx, t.session, t.need_actor(), contract_id=int(d["contract_id"]),
                          month=iso_month(d["month"]), work_hours=Decimal(d["work"]))
    except HOURS_ERRORS as err:
        _reopen_after(t, err)
        return False
    except DomainError:
        pass
    return True


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
            existing = declaration_id_for_month(t.session, int(d["contract_id"]),
                                                iso_month(d["month"]))
        for key in ("month", "work", "training"):  # hours typed for a refused month go too
            d.pop(key, None)
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
    if step != "suggest" and (new := understand(text, t.today)) is not None and new.drafts:
        # A whole new declaration (« Dupont Marie 20h le mois dernier ») typed mid-flow: it
        # replaces the one in progress rather than being read as a month or a number.
        t.conv.end()
        t.say(texts.ABANDONED.format(what=texts.FLOW_NAMES.get(FLOW, FLOW)))
        try_shortcut(t, text)
        return
    if step == "month":
        d["month"] = parse_month(text, today=t.today).isoformat()
        if _month_ok(t):
            advance(t)
    elif step == "work":
        d["work"] = str(read_hours(text, "travail", t.ctx.rulebook.hours.monthly_hours_max))
        if _work_ok(t):
            advance(t)
    elif step == "training":
        d["training"] = str(read_hours(text, "formation", t.ctx.rulebook.hours.monthly_hours_max))
        advance(t)
    elif step == "suggest":  # the name typed again, corrected, rather than a button pressed
        t.conv.end()
        if not try_shortcut(t, text):
            t.say(texts.NOT_UNDERSTOOD_COMPANY)
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
    """d:lot:<id>, d:ct:<id>, d:sug:<contract id>, d:m:<YYYY-MM>, d:skip, d:ok:<token>,
    d:okm:<token> (several people).

    Ids are checked against the contracts offered in this flow (kept in the state), so a
    tampered button is refused, without a query and without saying whether the id exists.
    The declaration writes in its own savepoint (`_record`): nothing else here writes.
    """
    verb = parts[0] if parts else ""
    arg = parts[1] if len(parts) > 1 else ""
    if verb == "ok":
        _confirm(t, arg)
        return
    if verb == "okm":
        _confirm_many(t, arg)
        return
    steps = {"lot": "lot", "ct": "contract", "m": "month", "skip": "proof", "sug": "suggest"}
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
    elif verb == "sug":  # « vouliez-vous dire … ? »: one of the close names offered
        chosen = next((v for v in _views(t) if arg.isdigit() and v.contract_id == int(arg)), None)
        if chosen is None:
            raise NotAllowed()
        d["lot_id"], d["contract_id"] = chosen.lot_id, chosen.contract_id
        _narrow(t, lambda v: v.contract_id == chosen.contract_id)
    elif verb == "m":
        d["month"] = parse_month(arg).isoformat()
        if not _month_ok(t):
            return
    elif verb == "skip":
        d["proof_done"] = True
    advance(t)


def _confirm(t: Turn, token: str) -> None:
    if t.conv.flow != FLOW or t.conv.step != "confirm" or t.conv.data.get("token") != token:
        done = revision_recorded(t.session, t.idempotency_key(token))
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
