"""The chat core: one event in, the answers out, in one database transaction.

Design (why one core rather than PTB handlers): the Telegram adapter and the console backend
both turn their events into :class:`bot.messages.Incoming` and call :meth:`ChatCore.handle`;
the conversation logic (bot.flows) exists once and never sees a PTB object. Each event is one
unit of work: the update id is recorded (`chat_updates`, primary key, so a replay is dropped),
the user's conversation state is read and written (`conversation_states`), and the domain
writes happen, all in the same transaction. Either all of it is committed or none of it, so a
replay, a double tap or a restart between two messages can neither lose nor double anything.

The core is synchronous (SQLAlchemy sessions are); backends call it from a worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, Executable, Table, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import texts
from bot.flows import (
    candidate,
    candidature_profile,
    control,
    corrections,
    declare,
    escalation,
    hire,
    identity,
    meetings,
    notes,
    offers,
    onboarding,
    progress,
    reporting,
    staff,
)
from bot.flows import exit as exit_flow
from bot.messages import (
    MAX_INPUT_CHARS,
    Incoming,
    IncomingFile,
    Outcome,
    Reply,
    clean_text,
    valid_callback,
)
from bot.state import Conversation, ConversationStore, peek
from bot.turn import (
    ALL_ROLES,
    COMPANY,
    STAFF,
    CallbackHandler,
    Command,
    Flow,
    Turn,
    needs_savepoint,
)
from clauses.authz import DENIED_FR, may_enter
from clauses.context import Context
from clauses.errors import DomainError
from storage.documents import DocumentRejected
from storage.models import ChatUpdate, Role
from storage.models.base import table_of

log = logging.getLogger(__name__)

_REFERENT = frozenset({Role.REFERENT})
_SUBMITTERS = frozenset({Role.ENTREPRISE, Role.PRESCRIPTEUR})


def _help(t: Turn, args: str) -> None:
    role = t.role
    assert role is not None
    where = t.conv.where
    prefix = ""
    if where and where in texts.CONTEXT_HELP:
        prefix = f"En cours : {texts.FLOW_NAMES.get(t.conv.flow or '', '')}. {texts.CONTEXT_HELP[where]}\n\n"
    t.say(prefix + texts.HELP.get(role, texts.HELP_COMMON))


def _cancel(t: Turn, args: str) -> None:
    if t.conv.active:
        t.conv.end()
        t.say(texts.CANCELLED)
    else:
        t.say(texts.NOTHING_TO_CANCEL)


COMMANDS: dict[str, Command] = {
    c.name: c
    for c in [
        Command("start", onboarding.cmd_start, ALL_ROLES, "Démarrer"),
        Command("aide", _help, ALL_ROLES, "Aide et liste des commandes"),
        Command("annuler", _cancel, ALL_ROLES, "Abandonner la saisie en cours"),
        Command("deconnexion", onboarding.cmd_deconnexion, ALL_ROLES, "Retirer le lien de ce compte"),
        Command("declarer", declare.cmd_declarer, COMPANY, "Déclarer des heures"),
        Command("mes_declarations", corrections.cmd_mes_declarations, COMPANY,
                "Voir et corriger vos déclarations"),
        Command("avancement", progress.cmd_avancement, COMPANY | _REFERENT | STAFF,
                "Heures dues, réalisées et attendues"),
        Command("candidat", candidate.cmd_candidat, _SUBMITTERS, "Proposer un candidat"),
        Command("embauche", hire.cmd_embauche, COMPANY | STAFF, "Déclarer une embauche"),
        Command("contrats", hire.cmd_contrats, COMPANY | STAFF, "Contrats des personnes"),
        Command("marches", progress.cmd_marches, STAFF, "Portefeuille de marchés"),
        Command("entreprise", staff.cmd_entreprise, STAFF, "Situation d'une entreprise"),
        Command("point", reporting.cmd_point, STAFF | _REFERENT, "Point d'étape d'un marché"),
        Command("bilan", reporting.cmd_bilan, STAFF | _REFERENT, "Bilan annuel"),
        Command("relances", escalation.cmd_relances, STAFF, "Procédures de relance en cours"),
        Command("procedure", escalation.cmd_procedure, STAFF,
                "Procédure de relance : ouvrir, contacts, accord, suite"),
        Command("reponse", escalation.cmd_reponse, COMPANY,
                "Répondre à une procédure de relance"),
        Command("note", notes.cmd_note, STAFF, "Note qualitative (grille de suivi)"),
        Command("alertes", staff.cmd_alertes, STAFF, "Alertes à traiter"),
        Command("reunion", meetings.cmd_reunion, STAFF, "Enregistrer une réunion"),
        Command("reunions", meetings.cmd_reunions, STAFF, "Réunions à venir"),
        Command("completer", candidature_profile.cmd_completer, STAFF,
                "Compléter le profil d'un candidat (bilan)"),
        Command("sortie", exit_flow.cmd_sortie, STAFF, "Enregistrer la sortie d'une personne"),
        Command("offre", offers.cmd_offre, COMPANY | STAFF, "Déposer une offre d'emploi"),
        Command("offres", offers.cmd_offres, COMPANY | STAFF, "Offres d'emploi et candidatures"),
        Command("controle", control.cmd_controle, STAFF, "Contrôler les heures déclarées"),
    ]
}
ALIASES = {"help": "aide", "cancel": "annuler", "stop": "annuler", "déclarer": "declarer",
           "marchés": "marches", "réunion": "reunion", "réunions": "reunions",
           "procédure": "procedure", "réponse": "reponse", "contrôle": "controle"}

FLOWS: dict[str, Flow] = {
    f.name: f
    for f in [declare.FLOW_DEF, corrections.FLOW_DEF, candidate.FLOW_DEF, staff.REFUSAL_FLOW_DEF,
              hire.FLOW_DEF, offers.FLOW_DEF, control.FLOW_DEF,
              control.PROOF_FLOW_DEF]
}


def _cancel_button(t: Turn, parts: list[str]) -> None:
    t.clear_source_keyboard = True
    if t.conv.active:
        t.conv.end()
        t.notify("Annulé.")
        t.say(texts.CANCELLED)
    else:
        t.notify(texts.STALE_BUTTON)


CALLBACKS: dict[str, CallbackHandler] = {
    "d": declare.on_callback,
    "mc": corrections.start_correction,
    "k": corrections.on_callback,
    "c": candidate.on_callback,
    "cand": staff.on_candidature,
    "h": hire.on_callback,
    "alert": staff.on_alert,
    "esc": escalation.on_callback,
    "bilan": staff.on_bilan,
    "ent": staff.on_company,
    "pt": reporting.on_point,
    "u": onboarding.on_callback,
    "x": _cancel_button,
    "ex": exit_flow.on_callback,
    "cv": candidature_profile.on_cv,
    "idm": identity.on_merge,
    "idk": identity.on_keep_apart,
    "off": offers.on_callback,
    "path": offers.on_path,
    "ctl": control.on_callback,
    "pj": control.on_proof_button,
}
CALLBACK_COMMANDS: dict[str, str] = {
    "d": "declarer", "mc": "mes_declarations", "k": "mes_declarations", "c": "candidat",
    "cand": "alertes", "alert": "alertes", "bilan": "alertes", "h": "embauche", "cv": "alertes",
    "ent": "entreprise", "pt": "point", "idm": "alertes", "idk": "alertes",
    "off": "offres", "path": "alertes", "ctl": "controle",
    "pj": "mes_declarations",
}
"""The command whose roles a button requires (checked by clauses.authz.may_enter, like the
command itself); onboarding and cancel buttons have none, nor the escalation buttons (a
référent consents, a company answers: the domain's escalation use cases authorise each) and the
exit question's (the employer answers; the domain checks the company)."""


class ChatCore:
    """Handles one incoming event at a time; safe to call from several threads."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.journal: Callable[[Session, Incoming, Outcome], None] | None = None
        """Set by a backend that replays nothing (Telegram): writes the replies of an update
        in its transaction, so a crash before they are sent cannot lose them."""

    @property
    def max_file_bytes(self) -> int:
        return self.ctx.documents.max_bytes

    # -- backend helpers ----------------------------------------------------------------------
    def wants_file(self, chat_id: int, user_id: int) -> bool:
        """Whether the user's conversation is at a step that takes a file (download it then)."""
        with self.ctx.db.session() as s:
            linked, conv = peek(s, chat_id, user_id, self.ctx.clock.now())
            if linked is None:
                return False
        flow = FLOWS.get(conv.flow or "")
        return bool(flow and flow.on_file and conv.step in flow.file_steps)

    @staticmethod
    def menu() -> list[tuple[str, str]]:
        """(command, description) pairs for Telegram's command menu."""
        return [(c.name, c.description) for c in COMMANDS.values() if c.name != "start"]

    # -- the unit of work -----------------------------------------------------------------------
    def handle(self, inc: Incoming) -> Outcome:
        try:
            with self.ctx.db.session() as session:
                if inc.update_id is None:
                    _serialise_user(session, inc.user_id)
                elif not _claim_update(session, inc.update_id, inc.user_id, self.ctx):
                    return Outcome(duplicate=True)
                outcome = self._handle_in(session, inc)
                if self.journal is not None and inc.update_id is not None:
                    self.journal(session, inc, outcome)
                return outcome
        except Exception:
            log.exception("chat update %s failed", inc.update_id)
            if inc.update_id is not None:
                # Record the id anyway: a replay of a poison update must not fail forever.
                try:
                    with self.ctx.db.session() as session:
                        _claim_update(session, inc.update_id, inc.user_id, self.ctx)
                except Exception:
                    log.exception("could not record failed update %s", inc.update_id)
            return Outcome(replies=[Reply(texts.INTERNAL_ERROR)])

    def _handle_in(self, session: Session, inc: Incoming) -> Outcome:
        now = self.ctx.clock.now()
        store = ConversationStore(session, inc.chat_id, inc.user_id)
        user, conv = store.load_user(now)
        text = clean_text(inc.text) if inc.text is not None else None
        if user is None:
            t = Turn(self.ctx, session, inc, None, Conversation())
            if not inc.private:
                t.say(texts.PRIVATE_ONLY)
            elif text is not None and len(text) > MAX_INPUT_CHARS:
                t.say(texts.STRANGER)
            else:
                onboarding.stranger(t, text)
            return t.outcome()
        t = Turn(self.ctx, session, inc, user, conv)
        if not inc.private:
            t.say(texts.PRIVATE_ONLY)
            return t.outcome()
        if conv.expired:
            conv.end()
            t.say(texts.EXPIRED)
        self._route(t, text)
        store.save(conv, now)
        return t.outcome()

    def _route(self, t: Turn, text: str | None) -> None:
        inc = t.incoming
        if inc.callback_data is not None:
            if not valid_callback(inc.callback_data):
                t.notify(texts.BAD_BUTTON)
                return
            prefix, *parts = inc.callback_data.split(":")
            handler = CALLBACKS.get(prefix)
            if handler is None:
                t.notify(texts.BAD_BUTTON)
                return
            gate = CALLBACK_COMMANDS.get(prefix)
            if gate is not None and not may_enter(t.role, COMMANDS[gate].roles):
                t.say(DENIED_FR)
                return
            self._guarded(t, lambda: handler(t, parts), savepoint=needs_savepoint(handler))
            return
        if inc.file is not None:
            self._on_file(t, inc.file)
            return
        if text is None or not text:
            t.say(texts.NOT_UNDERSTOOD)
            return
        if len(text) > MAX_INPUT_CHARS:
            t.say(texts.TOO_LONG.format(n=f"{len(text):,}".replace(",", " "),
                                        limit=f"{MAX_INPUT_CHARS:,}".replace(",", " ")))
            return
        if text.startswith("/"):
            self._command(t, text)
            return
        flow = FLOWS.get(t.conv.flow or "")
        if flow is not None:
            self._guarded(t, lambda: flow.on_text(t, text), savepoint=needs_savepoint(flow.on_text))
            return
        self._free_text(t, text)

    def _command(self, t: Turn, text: str) -> None:
        head, _, args = text.partition(" ")
        name = head[1:].split("@", 1)[0].lower()
        name = ALIASES.get(name, name)
        command = COMMANDS.get(name)
        if command is None:
            t.say(texts.UNKNOWN_COMMAND.format(cmd=head[:40]))
            return
        if not may_enter(t.role, command.roles):
            t.say(texts.NOT_FOR_ROLE.format(cmd=f"/{command.name}"))
            return
        if t.conv.active and name not in ("aide", "annuler"):
            t.say(texts.ABANDONED.format(what=texts.FLOW_NAMES.get(t.conv.flow or "", t.conv.flow)))
            t.conv.end()
        self._guarded(t, lambda: command.handler(t, args.strip()),
                      savepoint=needs_savepoint(command.handler))

    def _free_text(self, t: Turn, text: str) -> None:
        if onboarding.looks_like_code(text):
            t.say(texts.ALREADY_LINKED)
        elif t.role == Role.ENTREPRISE:
            handled: list[bool] = []
            self._guarded(t, lambda: handled.append(declare.try_shortcut(t, text)))
            if handled and not handled[0]:
                t.say(texts.NOT_UNDERSTOOD_COMPANY)
        else:
            t.say(texts.NOT_UNDERSTOOD)

    def _on_file(self, t: Turn, file: IncomingFile) -> None:
        flow = FLOWS.get(t.conv.flow or "")
        if flow is None or flow.on_file is None or t.conv.step not in flow.file_steps:
            t.say(texts.UNEXPECTED_FILE)
            return
        limit = self.max_file_bytes
        if (file.size is not None and file.size > limit) or (file.data and len(file.data) > limit):
            size = (file.size or len(file.data or b"")) / (1024 * 1024)
            t.say(texts.FILE_TOO_BIG.format(size=f"{size:.1f}".replace(".", ","),
                                            limit=limit // (1024 * 1024)))
            return
        if file.data is None:
            t.say(texts.FILE_MISSING)
            return
        on_file = flow.on_file
        self._guarded(t, lambda: on_file(t, file))

    @staticmethod
    def _guarded(t: Turn, action: Callable[[], object], *, savepoint: bool = True) -> None:
        """Run a handler in a savepoint: a refusal undoes its writes and is told in French.

        Handlers marked :func:`bot.turn.refuses_before_writing` skip the savepoint (two
        statements of every update): they refuse before writing anything.
        """
        try:
            if not savepoint:
                action()
                return
            with t.session.begin_nested():
                action()
        except (DomainError, DocumentRejected) as err:
            t.say(err.message_fr)


_INSERTS: dict[str, Callable[[Table], postgresql.Insert | sqlite.Insert]] = {
    "postgresql": postgresql.insert, "sqlite": sqlite.insert}
_CLAIMS: dict[str, Executable] = {}
"""The claim statement of each dialect, built once (bound parameters)."""

_USER_LOCK_CLASS = 0x63686174
"""First half of the two-int advisory key of a chat user's lock ("chat"); the instance lock
(storage.instance_lock) uses another class."""


def _user_lock_key(user_id: int) -> int:
    """The platform user id folded into PostgreSQL's int4 (a collision only serialises more)."""
    return (user_id + 2**31) % 2**32 - 2**31


def _claim_statement(dialect: str) -> Executable | None:
    claim = _CLAIMS.get(dialect)
    if claim is None and dialect in _INSERTS:
        table = table_of(ChatUpdate)
        returning: list[ColumnElement[Any]] = [table.c.update_id]
        if dialect == "postgresql":
            returning.append(func.pg_advisory_xact_lock(bindparam("lock_class"),
                                                        bindparam("lock_key")))
        claim = _CLAIMS[dialect] = (
            _INSERTS[dialect](table)
            .values(update_id=bindparam("update_id"), received_at=bindparam("received_at"))
            .on_conflict_do_nothing(index_elements=["update_id"])
            .returning(*returning)
        )
    return claim


def _claim_update(session: Session, update_id: int, user_id: int, ctx: Context) -> bool:
    """Record the update id; False when it was already handled (a replay).

    One ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` (both databases have it): a replay
    inserts, hence returns, no row. On PostgreSQL a concurrent copy of the same update waits
    for the first one's commit and then inserts nothing, as the primary key wants.

    On PostgreSQL the same statement also takes the user's transaction lock (see
    :func:`_serialise_user`), so a second update of the user waits here, before any read:
    its later statements see what the first one committed. (A row lock taken by the later
    SELECT would not do: in READ COMMITTED, rows joined to the locked one would still come
    from the snapshot taken before the wait.) SQLite serialises writers with BEGIN IMMEDIATE.
    """
    claim = _claim_statement(session.get_bind().dialect.name)
    if claim is not None:
        # On the table, not the mapped class: no ORM bookkeeping for a row nobody reads back.
        found = session.execute(claim, {
            "update_id": update_id, "received_at": ctx.clock.now(),
            "lock_class": _USER_LOCK_CLASS, "lock_key": _user_lock_key(user_id),
        })
        return found.first() is not None
    if session.get(ChatUpdate, update_id) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(ChatUpdate(update_id=update_id, received_at=ctx.clock.now()))
            session.flush()
    except IntegrityError:
        return False
    return True


def _serialise_user(session: Session, user_id: int) -> None:
    """Take the user's transaction lock (PostgreSQL), for events without an update id."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_USER_LOCK_CLASS,
                                                          _user_lock_key(user_id))))
