"""Console chat backend: the same core, driven from a terminal or from tests and demos.

It is the chat of the offline embedded default (no Telegram token): `clausebot run` reads the
terminal, and alerts or reminders addressed to a console account are printed there (the
outbox sender delivers them through :class:`ConsoleTransport`).

Conventions, errbot-style:

* buttons are shown as numbered choices (``[1] Valider  [2] Refuser``); typing the number
  presses the button of the latest message that had buttons. Prompts that expect a typed
  number (hours) carry no buttons, so a number there is always the answer, never a press;
* ``!fichier <chemin>`` sends a file; ``!compte <n>`` switches to console account n (several
  people in one demo); ``!aide`` lists these; ``!quitter`` leaves;
* ``!codes`` lists the invitations still usable and ``!codes <n°>`` prints a fresh code for one
  (codes are stored hashed, so a code that scrolled away is replaced, never shown again);
* every message printed is labelled with the console account it is for (``[compte 2]``):
  alerts for another account arrive in the same terminal;
* console accounts have negative ids (-1, -2...) so they never collide with Telegram's
  positive user and private chat ids; no update id is recorded (nothing replays a terminal).

The in-process API (:meth:`ConsoleChat.send`, :meth:`press`, :meth:`send_file`) returns the
rendered bot messages, which is what the console tests assert on.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from bot.core import ChatCore
from bot.messages import Incoming, IncomingFile, Keyboard, Outcome, split_long
from storage.models import Channel

CONSOLE_HELP = (
    "Console clausebot. Écrivez comme dans Telegram (/aide pour les commandes du bot).\n"
    "  <numéro>          appuyer sur le bouton [numéro] du dernier message à boutons\n"
    "  !fichier <chemin>  envoyer un fichier (justificatif, CV)\n"
    "  !compte <n>        parler en tant que compte console n (1 par défaut)\n"
    "  !codes             invitations encore utilisables ; !codes <n°> : un nouveau code\n"
    "  !quitter           quitter"
)


@dataclass
class ConsoleMessage:
    """A bot message as the console shows it."""

    text: str
    buttons: Keyboard = field(default_factory=list)
    chat_id: int = 0

    @property
    def labels(self) -> list[str]:
        return [label for row in self.buttons for label, _ in row]

    @property
    def callbacks(self) -> list[str]:
        return [data for row in self.buttons for _, data in row]

    def render(self) -> str:
        lines = [self.text]
        n = 0
        for row in self.buttons:
            cells = []
            for label, _ in row:
                n += 1
                cells.append(f"[{n}] {label}")
            lines.append("  " + "   ".join(cells))
        return "\n".join(lines)


def keyboard_from_markup(markup: dict[str, Any] | None) -> Keyboard:
    """Bot API `inline_keyboard` JSON (as stored in outbox rows) to our keyboard rows."""
    rows: Keyboard = []
    for row in (markup or {}).get("inline_keyboard", []):
        rows.append([(str(b.get("text", "")), str(b.get("callback_data", ""))) for b in row
                     if b.get("callback_data")])
    return [r for r in rows if r]


class ConsoleChat:
    """One console account talking to the core (synchronous: call it from a worker thread)."""

    def __init__(self, core: ChatCore, *, account: int = 1, out: TextIO | None = None,
                 echo: bool = False) -> None:
        if account < 1:
            raise ValueError("console accounts are numbered from 1")
        self.core = core
        self.user_id = -account
        self.chat_id = -account
        self.out = out
        self.echo = echo
        self.transcript: list[ConsoleMessage] = []
        self._keyboard: ConsoleMessage | None = None
        self._lock = threading.Lock()

    # -- in-process API ------------------------------------------------------------------------
    def send(self, text: str) -> list[ConsoleMessage]:
        return self._run(Incoming(Channel.CONSOLE, self.chat_id, self.user_id, text=text))

    def press(self, choice: int | str) -> list[ConsoleMessage]:
        """Press button `choice` (1-based number, exact label, or callback data)."""
        data = self._resolve(choice)
        if data is None:
            return self._show([ConsoleMessage(f"Pas de bouton « {choice} ».", chat_id=self.chat_id)])
        return self._run(Incoming(Channel.CONSOLE, self.chat_id, self.user_id, callback_data=data))

    def press_data(self, callback_data: str) -> list[ConsoleMessage]:
        """Send any callback data, as a tampered client could (tests)."""
        return self._run(
            Incoming(Channel.CONSOLE, self.chat_id, self.user_id, callback_data=callback_data)
        )

    def send_file(self, data: bytes, name: str | None, *, photo: bool = False) -> list[ConsoleMessage]:
        wanted = self.core.wants_file(self.chat_id, self.user_id)
        too_big = len(data) > self.core.max_file_bytes
        file = IncomingFile(size=len(data), display_name=name, is_photo=photo,
                            data=data if wanted and not too_big else None)
        return self._run(Incoming(Channel.CONSOLE, self.chat_id, self.user_id, file=file))

    def type(self, line: str) -> list[ConsoleMessage]:
        """What the terminal does with a typed line (numbers press, `!fichier` uploads)."""
        stripped = line.strip()
        if stripped.isdigit() and self._keyboard is not None:
            n = int(stripped)
            if 1 <= n <= len(self._keyboard.callbacks):
                return self.press(n)
        if stripped.startswith("!fichier"):
            path = Path(stripped.removeprefix("!fichier").strip()).expanduser()
            try:
                with path.open("rb") as fh:
                    data = fh.read(self.core.max_file_bytes + 1)
            except OSError as err:
                return self._show([ConsoleMessage(f"Fichier illisible : {err.strerror}.", chat_id=self.chat_id)])
            return self.send_file(data, path.name)
        return self.send(line)

    @property
    def last(self) -> ConsoleMessage:
        return self.transcript[-1]

    def deliver(self, text: str, buttons: Keyboard) -> ConsoleMessage:
        """A message pushed by the outbox (alert, reminder, decision) to this account."""
        message = ConsoleMessage(text, buttons, self.chat_id)
        self._show([message])
        return message

    # -- internals ----------------------------------------------------------------------------
    def _resolve(self, choice: int | str) -> str | None:
        with self._lock:
            keyboard = self._keyboard
        if keyboard is None:
            return None
        if isinstance(choice, int) or (isinstance(choice, str) and choice.isdigit()):
            n = int(choice)
            callbacks = keyboard.callbacks
            return callbacks[n - 1] if 1 <= n <= len(callbacks) else None
        for row in keyboard.buttons:
            for label, data in row:
                if choice in (label, data) or choice.lower() in label.lower():
                    return data
        return None

    def _run(self, incoming: Incoming) -> list[ConsoleMessage]:
        outcome = self.core.handle(incoming)
        return self._show(self._messages(outcome))

    def _messages(self, outcome: Outcome) -> list[ConsoleMessage]:
        messages: list[ConsoleMessage] = []
        if outcome.toast and not outcome.replies:
            messages.append(ConsoleMessage(f"ℹ️ {outcome.toast}", chat_id=self.chat_id))
        for reply in outcome.replies:
            chunks = split_long(reply.text)
            for i, chunk in enumerate(chunks):
                buttons = reply.buttons if i == len(chunks) - 1 else []
                messages.append(ConsoleMessage(chunk, buttons, self.chat_id))
        if outcome.clear_source_keyboard and not any(m.buttons for m in messages):
            with self._lock:
                self._keyboard = None
        return messages

    def _show(self, messages: list[ConsoleMessage]) -> list[ConsoleMessage]:
        with self._lock:
            for message in messages:
                self.transcript.append(message)
                if message.buttons:
                    self._keyboard = message
                if self.out is not None:
                    self.out.write(f"[compte {-self.chat_id}] {message.render()}\n\n")
            if self.out is not None:
                self.out.flush()
        return messages


def invitation_codes(core: ChatCore, arg: str) -> str:
    """`!codes`: the usable invitations; `!codes <n°>`: a fresh code replacing that one's.

    The terminal is the machine's operator (who could run `clausebot invitation create`), so
    this is the CLI's right, audit-logged like it."""
    from clauses import audit
    from clauses.actors import Actor
    from clauses.errors import DomainError
    from clauses.formatting import fr_datetime
    from clauses.invitations import reissue_invitation, usable_invitations
    from storage.models import Role

    ctx = core.ctx
    arg = arg.strip()
    with ctx.db.session() as s:
        if not arg:
            rows = usable_invitations(s, ctx.clock)
            if not rows:
                return ("Aucune invitation utilisable. Créez-en une : clausebot invitation create "
                        "--role entreprise --entreprise \"<nom>\"")
            lines = ["Invitations utilisables (les codes ne sont pas conservés ; !codes <n°> en "
                     "donne un nouveau, l'ancien cesse de marcher) :"]
            lines += [f"  n° {inv.id} : {inv.role.value}, {inv.display_name} — expire le "
                      f"{fr_datetime(inv.expires_at)}" for inv in rows]
            return "\n".join(lines)
        if not arg.isdigit():
            return "Usage : !codes (la liste) ou !codes <n°> (un nouveau code), par exemple !codes 3"
        try:
            code, inv = reissue_invitation(s, ctx.clock, int(arg))
        except DomainError as err:
            return err.message_fr
        operator = Actor(role=Role.ADMIN, channel=Channel.CONSOLE, label="console")
        audit.record(s, operator, "invitation_renouvelee", "invitation", inv.id, replaces=int(arg))
        return (f"Invitation n° {inv.id} ({inv.role.value}, {inv.display_name}) : tapez "
                f"/start {code}\n(l'ancien code de l'invitation n° {arg} ne marche plus)")


class ConsoleTransport:
    """The outbox sender's way to reach console accounts (negative chat ids)."""

    def __init__(self, core: ChatCore, out: TextIO | None = None) -> None:
        self.core = core
        self.out = out
        self.chats: dict[int, ConsoleChat] = {}

    def chat(self, account: int) -> ConsoleChat:
        chat_id = -account
        if chat_id not in self.chats:
            self.chats[chat_id] = ConsoleChat(self.core, account=account, out=self.out)
        return self.chats[chat_id]

    async def send(self, chat_id: int, text: str, reply_markup: dict[str, Any] | None) -> str:
        chat = self.chats.get(chat_id)
        buttons = keyboard_from_markup(reply_markup)
        if chat is None:
            chat = self.chat(-chat_id) if chat_id < 0 else None
        if chat is None:
            raise ValueError(f"not a console chat id: {chat_id}")
        message = chat.deliver(text, buttons)
        return str(len(chat.transcript)) if message else ""


async def run_console(
    core: ChatCore,
    transport: ConsoleTransport,
    stop: asyncio.Event,
    *,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
) -> None:
    """Read the terminal until EOF, `!quitter` or `stop`; answers are printed by the chats."""
    stdin = stdin or sys.stdin
    out = out or transport.out or sys.stdout
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def reader() -> None:  # a daemon thread: a blocked readline never holds the exit
        for line in stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=reader, name="console-stdin", daemon=True).start()
    account = 1
    out.write(CONSOLE_HELP + "\n\n")
    out.flush()
    while not stop.is_set():
        getter = asyncio.ensure_future(lines.get())
        stopper = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for task in (getter, stopper):
            if task not in done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if getter not in done:
            break
        line = getter.result()
        if line is None or line.strip() == "!quitter":
            break
        command = line.strip()
        if not command:
            continue
        if command == "!aide":
            out.write(CONSOLE_HELP + "\n\n")
            out.flush()
            continue
        if command.startswith("!compte"):
            arg = command.removeprefix("!compte").strip()
            if arg.isdigit() and int(arg) >= 1:
                account = int(arg)
                out.write(f"(vous êtes maintenant le compte console {account})\n\n")
            else:
                out.write("Usage : !compte <numéro>, par exemple !compte 2\n\n")
            out.flush()
            continue
        if command == "!codes" or command.startswith("!codes "):
            answer = await asyncio.to_thread(invitation_codes, core, command.removeprefix("!codes"))
            out.write(answer + "\n\n")
            out.flush()
            continue
        chat = transport.chat(account)
        await asyncio.to_thread(chat.type, line)
