"""Entry points the service (`clausebot run`) calls to run the e-mail channel.

Two independent loops:

* **Intake** — blocking (imapclient, file system), so it runs in its own thread, which owns its
  IMAP connection (never shared between threads)::

      cfg = mail.config.from_settings(settings)
      intake = mail.service.start_intake(ctx, cfg)      # thread "mail-intake" started
      ...
      intake.stop(timeout=30)                            # sets the event, joins the thread

  With `imap_host` configured it reads the IMAP folders (IDLE, or polling); otherwise it polls
  the Maildir `<data>/mail/incoming` (`cfg.maildir_in`).

* **Outbox sender** — asyncio (aiosmtplib), runs in the service's event loop::

      stop = asyncio.Event()
      task = asyncio.create_task(mail.service.run_outbox_sender(ctx, cfg, stop))
      ...
      stop.set(); await task

  With `smtp_host` configured it sends through SMTP (STARTTLS required when `smtp_starttls`,
  AUTH when a user name is set); otherwise it writes each message into the Maildir
  `<data>/mail/outgoing` (`cfg.maildir_out`). Only `channel="email"` rows are taken: chat rows
  belong to the bot's sender.

Both loops survive errors (logged, recorded as `service_events`, retried with backoff) and
stop promptly when asked.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field

from clauses.context import Context
from mail.config import MailConfig
from mail.imap_intake import ImapIntake
from mail.intake import IntakeCore
from mail.maildir_intake import MaildirIntake
from mail.outbox_sender import OutboxSender
from mail.transport import MaildirTransport, SmtpTransport, Transport

log = logging.getLogger(__name__)


def build_intake(ctx: Context, cfg: MailConfig) -> ImapIntake | MaildirIntake:
    """The intake for the configuration: IMAP when configured, else the incoming Maildir."""
    core = IntakeCore(ctx, cfg)
    if cfg.imap is not None:
        return ImapIntake(core, cfg.imap)
    if cfg.maildir_in is None:
        raise ValueError("neither IMAP nor an incoming Maildir is configured")
    intake = MaildirIntake(core, cfg.maildir_in, poll_seconds=cfg.maildir_poll_seconds)
    intake.ensure()
    return intake


@dataclass
class IntakeThread:
    """A running intake: `stop()` asks it to finish and waits for the thread."""

    runner: ImapIntake | MaildirIntake
    thread: threading.Thread
    stop_event: threading.Event = field(default_factory=threading.Event)

    def stop(self, timeout: float | None = 30.0) -> bool:
        """Stop and join; True when the thread has ended within `timeout`."""
        self.stop_event.set()
        self.thread.join(timeout)
        return not self.thread.is_alive()

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()


def start_intake(ctx: Context, cfg: MailConfig, *, stop_event: threading.Event | None = None) -> IntakeThread:
    """Start the intake in a daemon thread named "mail-intake" and return its handle."""
    runner = build_intake(ctx, cfg)
    event = stop_event or threading.Event()
    thread = threading.Thread(target=runner.run, args=(event,), name="mail-intake", daemon=True)
    handle = IntakeThread(runner=runner, thread=thread, stop_event=event)
    thread.start()
    log.info("mail intake started (%s)", type(runner).__name__)
    return handle


def build_transport(cfg: MailConfig) -> Transport:
    if cfg.smtp is not None:
        return SmtpTransport(cfg.smtp)
    if cfg.maildir_out is None:
        raise ValueError("neither SMTP nor an outgoing Maildir is configured")
    return MaildirTransport(cfg.maildir_out)


def build_sender(ctx: Context, cfg: MailConfig, transport: Transport | None = None) -> OutboxSender:
    """The e-mail sender, able to render the reports queued by the intake and the chat, and
    the escalation letters (:mod:`mail.letters`)."""
    from mail.letters import LetterPreparer

    return OutboxSender(ctx.db, ctx.documents, transport or build_transport(cfg), cfg,
                        reports=LetterPreparer(ctx))


async def run_outbox_sender(ctx: Context, cfg: MailConfig, stop: asyncio.Event,
                            transport: Transport | None = None) -> None:
    """Deliver outbox e-mails until `stop` is set (see :mod:`mail.outbox_sender`)."""
    sender = build_sender(ctx, cfg, transport)
    log.info("outbox e-mail sender started (%s)", type(sender.transport).__name__)
    await sender.run(stop)
