"""/controle: the facilitator checks the declared hours — validate, or contest with a reason.

The chat only lays out and reads; the rules (who may, stale revisions, the company's notice)
are in :mod:`clauses.declaration_control`. The company's « Envoyer le justificatif » (``pj:<id>``)
asks for the file and stores it as the declaration's proof. Buttons ``ctl:<verb>:…``: ``m:<company>:<yyyymm>``
the lines of a company-month, ``vm:<company>:<yyyymm>`` validate them all, ``v:<id>:<rev>``
validate one, ``x:<id>:<rev>`` contest one (the reason is asked next). A button carries the
revision the facilitator saw: a correction since then is refused with the new figures.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from bot.flows.common import CANCEL
from bot.messages import IncomingFile
from bot.turn import Flow, Turn
from clauses import declaration_control as dc
from clauses.authz import Action, authorize
from clauses.formatting import fr_hours, fr_month
from storage.models import DeclarationStatus

FLOW = "controle"
CHAT_LIMIT = 10
"""Company-months shown at once in chat: one message each, a phone screen's worth."""
USAGE = (
    "Contrôle des heures déclarées :\n"
    "/controle [marché] — les mois à contrôler, par entreprise (boutons pour valider ou contester)\n"
    "/controle valider <n° de déclaration>\n"
    "/controle contester <n° de déclaration> <motif>\n"
    "ex. /controle contester 12 heures supérieures au bulletin de paie"
)


def _month_key(month: dt.date) -> str:
    return f"{month.year:04d}{month.month:02d}"


def _read_month_key(text: str) -> dt.date | None:
    if len(text) != 6 or not text.isdigit() or not 1 <= int(text[4:]) <= 12:
        return None
    return dt.date(int(text[:4]), int(text[4:]), 1)


def cmd_controle(t: Turn, args: str) -> None:
    words = args.split(maxsplit=2)
    verb = words[0].lower() if words else ""
    if verb in ("valider", "contester"):
        if len(words) < 2 or not words[1].isdigit():
            t.say(f"Indiquez le n° de la déclaration.\n{USAGE}")
            return
        if verb == "valider":
            _say_validated(t, [dc.validate(t.ctx, t.session, t.need_actor(), int(words[1]))])
        else:
            _contest(t, int(words[1]), words[2] if len(words) > 2 else "", None)
        return
    if verb in ("aide", "?"):
        t.say(USAGE)
        return
    months = dc.pending_months(t.session, t.need_actor(), market_reference=args.strip() or None,
                               limit=CHAT_LIMIT + 1)
    if not months:
        where = f" sur le marché {args.strip()}" if args.strip() else ""
        t.say(f"Aucune déclaration à contrôler{where}. " + USAGE.split("\n", 1)[1].split("\n")[0])
        return
    more = len(months) > CHAT_LIMIT
    months = months[:CHAT_LIMIT]
    t.say("Déclarations à contrôler, par entreprise et par mois, les plus anciennes d'abord"
          + (f" (les {CHAT_LIMIT} premiers ; /controle <marché> pour filtrer, ou la commande "
             "clausebot heures controle liste pour tout voir)" if more else "") + " :")
    for m in months:
        key = _month_key(m.month)
        text = (f"{m.company_name} — {fr_month(m.month)} — marché {m.markets} : "
                f"{m.lines} à contrôler" + (f", {m.contested} contestée(s)" if m.contested else "")
                + f" ({fr_hours(m.counted_hours)} comptées)")
        buttons = [("🔎 Détail", f"ctl:m:{m.company_id}:{key}")]
        if m.lines:
            buttons.append((f"✅ Tout valider ({m.lines})", f"ctl:vm:{m.company_id}:{key}"))
        t.say(text, [buttons])


def _show_month(t: Turn, company_id: int, month: dt.date) -> None:
    lines = dc.month_lines(t.session, t.need_actor(), company_id, month)
    if not lines:
        t.say(f"Plus rien à contrôler pour ce mois ({fr_month(month)}).")
        return
    t.say(f"{lines[0].company_name} — {fr_month(month)} :")
    for line in lines:
        if line.status == DeclarationStatus.CONTESTEE:
            t.say(f"❗ {line.label}\nContestée : « {line.control_reason} » (en attente de "
                  "l'entreprise)", [[("✅ Valider quand même", f"ctl:v:{line.declaration_id}:{line.revision}")]])
            continue
        after = (f"\n(corrigée après la contestation « {line.control_reason} »)"
                 if line.control_reason else "")
        t.say(line.label + after, [[("✅ Valider", f"ctl:v:{line.declaration_id}:{line.revision}"),
                                    ("❌ Contester", f"ctl:x:{line.declaration_id}:{line.revision}")]])


def _say_validated(t: Turn, lines: list[dc.ControlLine]) -> None:
    if not lines:
        t.say("Aucune ligne à valider : elles ont déjà été contrôlées (ou sont contestées). "
              "Tapez /controle pour la liste à jour.")
        return
    total = sum((line.counted_hours for line in lines), Decimal(0))
    t.say(f"✅ {len(lines)} déclaration(s) validée(s) ({fr_hours(total)} comptées) :\n"
          + "\n".join(f"• {line.label}" for line in lines))


def _contest(t: Turn, declaration_id: int, reason: str, revision: int | None) -> None:
    line, sent = dc.contest(t.ctx, t.session, t.need_actor(), declaration_id, reason, revision=revision)
    told = "l'entreprise est prévenue" if sent else "aucun contact de l'entreprise n'est connu : prévenez-la"
    t.say(f"❌ Déclaration contestée : {line.label}\nMotif : « {line.control_reason} » — {told}.")


def on_callback(t: Turn, parts: list[str]) -> None:
    if len(parts) != 3 or not parts[1].isdigit():
        t.notify("Ce bouton n'est plus actif.")
        return
    verb, target = parts[0], int(parts[1])
    if verb in ("m", "vm"):
        month = _read_month_key(parts[2])
        if month is None:
            t.notify("Ce bouton n'est plus actif.")
            return
        if verb == "m":
            _show_month(t, target, month)
        else:
            t.clear_source_keyboard = True
            _say_validated(t, dc.validate_month(t.ctx, t.session, t.need_actor(), target, month))
        return
    if not parts[2].isdigit():
        t.notify("Ce bouton n'est plus actif.")
        return
    revision = int(parts[2])
    if verb == "v":
        line = dc.validate(t.ctx, t.session, t.need_actor(), target, revision=revision)
        t.clear_source_keyboard = True
        _say_validated(t, [line])
    elif verb == "x":
        dc.check_contestable(t.session, t.need_actor(), target, revision)
        if t.conv.active:
            t.conv.end()
        t.conv.start(FLOW, "reason", decl=target, rev=revision)
        t.say(f"Contester la déclaration n° {target} : écrivez le motif en quelques mots (il est "
              "envoyé à l'entreprise), ex. « heures supérieures au bulletin de paie ».",
              [[CANCEL]])
    else:
        t.notify("Ce bouton n'est plus actif.")


def on_text(t: Turn, text: str) -> None:
    """The contest's reason: a too-short one is asked again; a stale revision ends the step."""
    d = t.conv.data
    reason = dc.read_reason(text)
    try:
        _contest(t, int(d["decl"]), reason, int(d["rev"]))
    except dc.ControlError as err:
        t.say(err.message_fr)
    t.conv.end()


FLOW_DEF = Flow(name=FLOW, on_text=on_text)


# -- the company's side: the proof asked by a contest (button ``pj:<declaration id>``) ------

PROOF_FLOW = "justificatif"


def on_proof_button(t: Turn, parts: list[str]) -> None:
    """pj:<declaration id>: ask for the file; re-authorised here, whatever the button said."""
    if len(parts) != 1 or not parts[0].isdigit():
        t.notify("Ce bouton n'est plus actif.")
        return
    authorize(t.session, t.need_actor(), Action.DECLARATION_WRITE, "declaration", int(parts[0]))
    if t.conv.active:
        t.conv.end()
    t.conv.start(PROOF_FLOW, "file", decl=int(parts[0]))
    t.say(f"Envoyez le justificatif de la déclaration n° {parts[0]} (photo ou PDF du bulletin de "
          "paie, de l'attestation de formation), ou /annuler.", [[CANCEL]])


def on_proof_text(t: Turn, text: str) -> None:
    t.say("J'attends un fichier : envoyez une photo ou un PDF du justificatif, ou /annuler.")


def on_proof_file(t: Turn, file: IncomingFile) -> None:
    assert file.data is not None
    line = dc.attach_proof(t.ctx, t.session, t.need_actor(), int(t.conv.data["decl"]), file.data,
                           display_name=file.display_name)
    t.conv.end()
    t.say(f"📎 Justificatif enregistré pour la déclaration {line.label}. La·le "
          "facilitateur·rice est prévenu·e et la contrôle.")


PROOF_FLOW_DEF = Flow(name=PROOF_FLOW, on_text=on_proof_text, on_file=on_proof_file,
                      file_steps=frozenset({"file"}))
